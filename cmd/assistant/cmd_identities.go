package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/marketing-assistant/assistant/services"
)

// runIdentities runs identity maintenance:
//
//	assistant identities audit [--repair]
func runIdentities(ctx context.Context, stdout io.Writer, args []string, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "audit" {
		return fmt.Errorf("%w: identities audit [--repair]", errUsage)
	}
	fs := flag.NewFlagSet("identities audit", flag.ContinueOnError)
	fs.SetOutput(stdout)
	repair := fs.Bool("repair", false, "fix the drift found, writing only the rows that differ")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return withServices(ctx, stdout, getenv, func(ts *toolServices) error {
		db := ts.db
		// the audit reads ids and edges only: no phone is opened, so no key is needed
		rep, err := services.NewIdentityService(db.DB, nil).Audit(ctx, *repair)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "identities %d, merge edges %d, components %d\n", rep.Identities, rep.Edges, rep.Components)
		fmt.Fprintf(stdout, "drift: %d identities in the wrong user, %d components holding several users, %d users over several components\n",
			rep.Drifted, rep.MixedComponents, rep.SpanningUsers)
		if *repair {
			fmt.Fprintf(stdout, "repaired: %d identities re-pointed, %d users created, %d counters corrected\n",
				rep.Repaired, rep.NewUsers, rep.Recounted)
		} else if rep.Drifted > 0 {
			fmt.Fprintln(stdout, "run with --repair to fix")
		}
		fmt.Fprintf(stdout, "took %s\n", rep.Elapsed.Round(1e6))
		return nil
	})
}
