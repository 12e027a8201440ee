package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/marketing-assistant/assistant/services"
)

// runAdmin manages local admin accounts:
//
//	assistant admin create --name NAME [--role admin|manager] [--password-stdin]
//	assistant admin reset-password --name NAME [--password-stdin]
//	assistant admin list
//
// Without --password-stdin a strong password is generated and printed once.
func runAdmin(ctx context.Context, stdout io.Writer, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: assistant admin create|reset-password|list", errUsage)
	}
	verb, args := args[0], args[1:]
	fs := flag.NewFlagSet("admin "+verb, flag.ContinueOnError)
	fs.SetOutput(stdout)
	name := fs.String("name", "", "account name")
	role := fs.String("role", services.RoleAdmin, "admin or manager")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if verb != "list" && *name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	return withServices(ctx, stdout, getenv, func(svc *toolServices) error {
		switch verb {
		case "create", "reset-password":
			password, generated, err := choosePassword(*fromStdin, os.Stdin)
			if err != nil {
				return err
			}
			if verb == "create" {
				_, err = svc.admins.CreateAdmin(ctx, *name, password, *role)
			} else {
				err = svc.admins.ResetPassword(ctx, *name, password)
			}
			if err != nil {
				return explain(err)
			}
			fmt.Fprintf(stdout, "account %q saved.\n", *name)
			if generated {
				fmt.Fprintf(stdout, "password (shown once, store it now): %s\n", password)
			}
			return nil
		case "list":
			accounts, err := svc.admins.ListAdmins(ctx)
			if err != nil {
				return err
			}
			for _, a := range accounts {
				fmt.Fprintf(stdout, "%-24s %-8s created %s\n", a.Name, a.Role, a.CreatedAt.Format("2006-01-02"))
			}
			return nil
		}
		return fmt.Errorf("%w: unknown admin command %q", errUsage, verb)
	})
}

func choosePassword(fromStdin bool, stdin io.Reader) (password string, generated bool, err error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, err
		}
		return strings.TrimRight(line, "\r\n"), false, nil
	}
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	return base64.RawURLEncoding.EncodeToString(b), true, nil
}

// explain turns a service error into a message for the terminal.
func explain(err error) error {
	if fields := services.ErrorFields(err); len(fields) > 0 {
		parts := []string{}
		for k, v := range fields {
			parts = append(parts, k+": "+v)
		}
		return fmt.Errorf("%s (%s)", services.ErrorMessage(err), strings.Join(parts, "; "))
	}
	if services.ErrorCode(err) != services.EINTERNAL {
		return errors.New(services.ErrorMessage(err))
	}
	return err
}
