package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/marketing-assistant/assistant/services"
)

// runAPIKey manages CRM API keys:
//
//	assistant apikey create --name NAME --scopes identities:write,users:read
//	assistant apikey list
//	assistant apikey revoke ID
func runAPIKey(ctx context.Context, stdout io.Writer, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: apikey create|list|revoke", errUsage)
	}
	sub, args := args[0], args[1:]
	var name, scopes string
	fs := flag.NewFlagSet("apikey "+sub, flag.ContinueOnError)
	fs.SetOutput(stdout)
	if sub == "create" {
		fs.StringVar(&name, "name", "", "what the key is for, e.g. the CRM's name")
		fs.StringVar(&scopes, "scopes", "", "comma-separated: "+strings.Join(services.APIScopes, ","))
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return withServices(ctx, stdout, getenv, func(ts *toolServices) error {
		db := ts.db
		keys := services.NewAPIKeyService(db.DB)
		switch sub {
		case "create":
			k, secret, err := keys.CreateAPIKey(ctx, name, strings.Split(scopes, ","))
			if err != nil {
				return fmt.Errorf("%v %v", services.ErrorMessage(err), services.ErrorFields(err))
			}
			fmt.Fprintf(stdout, "API key %d %q (%s)\n\n  %s\n\nShown once; only its hash is stored. Send it as: Authorization: Bearer <key>\n",
				k.ID, k.Name, strings.Join(k.Scopes, ","), secret)
		case "list":
			ks, err := keys.APIKeys(ctx)
			if err != nil {
				return err
			}
			for _, k := range ks {
				state := "active"
				if k.RevokedAt != nil {
					state = "revoked"
				}
				fmt.Fprintf(stdout, "%d\t%s…\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Name, strings.Join(k.Scopes, ","), state)
			}
		case "revoke":
			id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
			if err != nil {
				return fmt.Errorf("%w: apikey revoke ID", errUsage)
			}
			if err := keys.RevokeAPIKey(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "API key %d revoked\n", id)
		default:
			return fmt.Errorf("%w: apikey create|list|revoke", errUsage)
		}
		return nil
	})
}
