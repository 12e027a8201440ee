package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/marketing-assistant/assistant/sandbox"
)

// runSandbox is `assistant sandbox`: the standalone WeCom / WeChat sandbox.
// Flags win over SANDBOX_* environment variables; the snapshot keeps the
// generated corp, keys and data across restarts. It runs until ctx ends.
func runSandbox(ctx context.Context, stdout io.Writer, args []string, getenv func(string) string) error {
	opts, err := sandboxOptions(args, getenv, stdout)
	if err != nil {
		return err
	}
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		return err
	}
	sandboxPrint(stdout, sb)
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := sb.Close(closeCtx); err != nil {
		return fmt.Errorf("sandbox: close: %w", err)
	}
	return nil
}

func sandboxOptions(args []string, getenv func(string) string, stdout io.Writer) (sandbox.Options, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stdout)
	wecom := fs.String("wecom-addr", env("SANDBOX_WECOM_ADDR", "127.0.0.1:9001"), "listen address standing in for qyapi.weixin.qq.com")
	official := fs.String("official-addr", env("SANDBOX_OFFICIAL_ADDR", "127.0.0.1:9002"), "listen address standing in for api.weixin.qq.com")
	oauth := fs.String("oauth-addr", env("SANDBOX_OAUTH_ADDR", "127.0.0.1:9003"), "listen address standing in for open.weixin.qq.com")
	control := fs.String("control-addr", env("SANDBOX_CONTROL_ADDR", "127.0.0.1:9000"), "control API and console")
	snapshot := fs.String("snapshot", env("SANDBOX_SNAPSHOT", "data/sandbox.json"), "JSON snapshot file (empty = memory only)")
	wecomCB := fs.String("wecom-callback", getenv("SANDBOX_WECOM_CALLBACK_URL"), "app's WeCom callback URL (saved without verification)")
	oaCB := fs.String("oa-callback", getenv("SANDBOX_OA_CALLBACK_URL"), "app's Official Account callback URL")
	seed := fs.String("seed", getenv("SANDBOX_SEED"), "id seed for deterministic ids (default random, then kept in the snapshot)")
	if err := fs.Parse(args); err != nil {
		return sandbox.Options{}, fmt.Errorf("sandbox: %w", err)
	}
	opts := sandbox.Options{
		Listen:       sandbox.ListenConfig{WeComAPI: *wecom, OfficialAPI: *official, OAuth: *oauth, Control: *control},
		SnapshotPath: *snapshot,
		Logger:       slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	opts.Corp.CallbackURL, opts.Official.CallbackURL = *wecomCB, *oaCB
	opts.Corp.CorpID, opts.Corp.AgentSecret = getenv("SANDBOX_CORP_ID"), getenv("SANDBOX_AGENT_SECRET")
	opts.Corp.Token, opts.Corp.EncodingAESKey = getenv("SANDBOX_CALLBACK_TOKEN"), getenv("SANDBOX_CALLBACK_AES_KEY")
	if *seed != "" {
		n, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			return sandbox.Options{}, fmt.Errorf("sandbox: -seed: %w", err)
		}
		opts.Seed = n
	}
	return opts, nil
}

func sandboxPrint(w io.Writer, sb *sandbox.Sandbox) {
	u, o := sb.URLs(), sb.Options()
	fmt.Fprintf(w, "WeChat/WeCom sandbox running (Ctrl-C to stop)\n")
	fmt.Fprintf(w, "  console + control API  %s/\n", u.Control)
	fmt.Fprintf(w, "  WeCom API (qyapi)      %s\n", u.WeComAPI)
	fmt.Fprintf(w, "  OA / MP API (api)      %s/\n", u.OfficialAPI)
	fmt.Fprintf(w, "  OAuth pages (open)     %s/connect/oauth2/authorize\n", u.OAuth)
	fmt.Fprintf(w, "  corp id %s  agent %d  agent secret %s\n", o.Corp.CorpID, o.Corp.AgentID, o.Corp.AgentSecret)
	fmt.Fprintf(w, "  contact secret %s  callback token %s  EncodingAESKey %s\n", o.Corp.ContactSecret, o.Corp.Token, o.Corp.EncodingAESKey)
	fmt.Fprintf(w, "  OA appid %s  secret %s  token %s  EncodingAESKey %s  (%s mode, %s)\n",
		o.Official.AppID, o.Official.Secret, o.Official.Token, o.Official.EncodingAESKey, o.Official.Mode, o.Official.OriginalID)
	fmt.Fprintf(w, "  mini program appid %s  secret %s\n", o.MiniProgram.AppID, o.MiniProgram.Secret)
}
