package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/backfill"
	"crmsync/internal/broker"
	"crmsync/internal/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitRejects = 1 // rows rejected, jobs not all succeeded, dead letter not found
	exitUsage   = 2 // usage, configuration, unreadable input
	exitNATS    = 3 // NATS unreachable, publish failure
)

// Main is the enqueue program with its surroundings, so tests run it whole.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        []string
	// Terminal draws progress bars on Stderr; otherwise progress is a
	// plain line every ProgressEvery (default 5s).
	Terminal      bool
	ProgressEvery time.Duration
	// Now is the clock (default time.Now). It only times the run: nothing
	// compares it with the server's clock.
	Now func() time.Time
}

// exitError carries an exit code with a one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

const usage = `usage:
  enqueue contacts -target klicktipp|klipy [-account A] [-list ID] [-tags a,b] [-map col=field,...] [-batch 200] [-id BACKFILL] [-priority backfill|live] [-wait] [-strict] FILE|-
  enqueue validate [-target-groups tg1,tg2] [-offers o1] [-mode any|all] [-map col=email] [-batch 1000] [-id BACKFILL] [-priority backfill|live] [-wait] [-strict] FILE|-
  enqueue status BACKFILL
  enqueue dlq list | show SEQ | replay [SEQ...|-all] | purge -yes
  enqueue accounts invite -account NAME -username KLICKTIPP_USERNAME [-expires 168h] | list | revoke NAME | rotate-master-key
run "enqueue COMMAND -h" for a command's flags`

// Run runs the command in args and returns the exit status.
func (m *Main) Run(ctx context.Context, args []string) int {
	if m.ProgressEvery <= 0 {
		m.ProgressEvery = 5 * time.Second
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "contacts", "validate":
		err = m.backfill(ctx, args[0], args[1:])
	case "status":
		err = m.status(ctx, args[1:])
	case "dlq":
		err = m.dlq(ctx, args[1:])
	case "accounts":
		err = m.accounts(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(m.Stdout, usage)
		return exitOK
	default:
		err = fail(exitUsage, "unknown command %q\n%s", args[0], usage)
	}
	return m.exit(err)
}

func (m *Main) exit(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(m.Stderr, "enqueue: "+ee.msg)
		}
		return ee.code
	}
	var ue *backfill.UsageError
	var ce *config.Error
	var ie *backfill.InputError
	switch {
	case errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &ie):
		fmt.Fprintln(m.Stderr, "enqueue: "+err.Error())
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(m.Stderr, "enqueue: interrupted")
		return exitNATS
	}
	fmt.Fprintln(m.Stderr, "enqueue: "+err.Error())
	return exitNATS
}

// parse parses flags that may come before or after the positional
// arguments ("contacts FILE -wait" works as well as "contacts -wait FILE").
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// conn is a connection to NATS and a JetStream context.
type conn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	cfg *config.Config
}

func (m *Main) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(m.Environ)
	if err != nil {
		return nil, fail(exitUsage, "bad configuration: %v", err)
	}
	return cfg, nil
}

// connect dials NATS as the worker would be reached; one line on failure.
// Without NATS_URL it dials the embedded server with EMBEDDED_NATS_TOKEN,
// else with the token the worker generated into its store (the worker's,
// then the sandbox's, unless EMBEDDED_NATS_STORE names one).
func (m *Main) connect(ctx context.Context, cfg *config.Config) (*conn, error) {
	log := slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	bc := broker.Config{URL: cfg.NATSURL, Creds: cfg.NATSCreds, NKey: cfg.NATSNKey, User: cfg.NATSUser,
		Password: cfg.NATSPassword, CA: cfg.NATSCA, Cert: cfg.NATSCert, Key: cfg.NATSKey, Name: "crmsync-enqueue"}
	var nc *nats.Conn
	var err error
	if cfg.NATSURL != "" {
		if nc, err = broker.Connect(ctx, bc, false, log, broker.Hooks{}); err != nil {
			return nil, fail(exitNATS, "%v", err)
		}
	} else if nc, err = dialEmbedded(ctx, cfg, bc, log); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fail(exitNATS, "jetstream: %v", err)
	}
	return &conn{nc: nc, js: js, cfg: cfg}, nil
}

func (c *conn) Close() { c.nc.Close() }

// dialEmbedded dials the worker's embedded server at EMBEDDED_NATS_ADDR
// with EMBEDDED_NATS_TOKEN, or else with each generated token found in
// cfg.TokenStores() until one is accepted.
func dialEmbedded(ctx context.Context, cfg *config.Config, bc broker.Config, log *slog.Logger) (*nats.Conn, error) {
	bc.URL = "nats://" + cfg.EmbeddedNATSAddr
	tokens := []string{cfg.EmbeddedNATSToken}
	if cfg.EmbeddedNATSToken == "" {
		tokens = nil
		for _, dir := range cfg.TokenStores() {
			tok, err := broker.ReadStoreToken(dir)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fail(exitNATS, "%v", err)
			}
			tokens = append(tokens, tok)
		}
		if len(tokens) == 0 {
			tokens = []string{""} // still dial, for the clearer "cannot reach" when no worker runs
		}
	}
	var err error
	for _, tok := range tokens {
		bc.Token = tok
		var nc *nats.Conn
		if nc, err = broker.Connect(ctx, bc, false, log, broker.Hooks{}); err == nil {
			return nc, nil
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			break
		}
	}
	switch {
	case errors.Is(err, nats.ErrAuthorization) && tokens[0] == "":
		return nil, fail(exitNATS, "the embedded server at EMBEDDED_NATS_ADDR=%s wants a token: EMBEDDED_NATS_TOKEN is not set and there is no %s in %s: set EMBEDDED_NATS_TOKEN to the worker's, or EMBEDDED_NATS_STORE to its store", cfg.EmbeddedNATSAddr, broker.TokenFile, strings.Join(cfg.TokenStores(), " or "))
	case errors.Is(err, nats.ErrAuthorization):
		where := "EMBEDDED_NATS_TOKEN"
		if cfg.EmbeddedNATSToken == "" {
			where = broker.TokenFile + " in " + strings.Join(cfg.TokenStores(), " or ")
		}
		return nil, fail(exitNATS, "the embedded server at EMBEDDED_NATS_ADDR=%s refused the token from %s: set EMBEDDED_NATS_TOKEN to the worker's, or EMBEDDED_NATS_STORE to its store", cfg.EmbeddedNATSAddr, where)
	}
	return nil, fail(exitNATS, "%v; NATS_URL is empty, so enqueue dials the worker's embedded server at EMBEDDED_NATS_ADDR=%s", err, cfg.EmbeddedNATSAddr)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
