package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/marketing-assistant/assistant/services"
)

// runAPIKey manages CRM API keys:
//
//	assistant apikey create --name NAME --scopes identities:write,users:read
//	assistant apikey list
//	assistant apikey revoke ID
//
// Creating and revoking are audited with the OS user who ran the command.
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
	var id int64
	switch sub {
	case "create", "list":
	case "revoke":
		var err error
		if id, err = strconv.ParseInt(fs.Arg(0), 10, 64); err != nil {
			return fmt.Errorf("%w: apikey revoke ID", errUsage)
		}
	default:
		return fmt.Errorf("%w: apikey create|list|revoke", errUsage)
	}
	return withServices(ctx, stdout, getenv, func(ts *toolServices) error {
		keys, by := services.NewAPIKeyService(ts.db.DB), cliActor(getenv)
		switch sub {
		case "create":
			return createAPIKey(ctx, stdout, keys, name, scopes, by)
		case "revoke":
			return revokeAPIKey(ctx, stdout, keys, id, by)
		}
		return listAPIKeys(ctx, stdout, keys)
	})
}

func createAPIKey(ctx context.Context, stdout io.Writer, keys *services.APIKeyService, name, scopes string, by services.Actor) error {
	k, secret, err := keys.CreateAPIKey(ctx, name, strings.Split(scopes, ","), by)
	if err != nil {
		return explain(err)
	}
	fmt.Fprintf(stdout, "API key %d %q (%s)\n\n  %s\n\nShown once; only its hash is stored. Send it as: Authorization: Bearer <key>\n",
		k.ID, k.Name, strings.Join(k.Scopes, ","), secret)
	return nil
}

func listAPIKeys(ctx context.Context, stdout io.Writer, keys *services.APIKeyService) error {
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
	return nil
}

func revokeAPIKey(ctx context.Context, stdout io.Writer, keys *services.APIKeyService, id int64, by services.Actor) error {
	if err := keys.RevokeAPIKey(ctx, id, by); err != nil {
		return explain(err)
	}
	fmt.Fprintf(stdout, "API key %d revoked\n", id)
	return nil
}

// cliActor names who runs a tool in the audit log: "cli:" and the OS user
// (from the user database, else $USER, else the uid).
func cliActor(getenv func(string) string) services.Actor {
	name := getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = "uid " + strconv.Itoa(os.Getuid())
	}
	return services.Actor{Kind: "system", ID: "cli:" + name}
}
