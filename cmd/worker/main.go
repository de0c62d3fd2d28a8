// Command worker is the crmsync worker: it takes sync jobs from NATS
// JetStream and carries them out against KlickTipp, Klipy CRM and ClickyID.
//
// Configuration is read from the environment (see README.md). With no
// NATS_URL it starts an embedded JetStream server. Exit status: 0 after a
// clean shutdown, 2 for a bad setting, 1 for any other failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"crmsync/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ()))
}

func run(args, environ []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	sandbox := fs.Bool("sandbox", false, "serve the three fake APIs in-process (seeded state, sandbox credentials) and point the clients at them")
	health := fs.Bool("healthcheck", false, "GET /healthz on HTTP_ADDR and exit 0 if healthy, 1 if not (for container HEALTHCHECK)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sandbox {
		environ = sandboxEnviron(environ)
	}
	cfg, err := config.Load(environ)
	if err == nil {
		err = cfg.CheckOnboarding()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: bad configuration: "+err.Error())
		return 2
	}
	if *health {
		return healthcheck(cfg.HTTPAddr)
	}
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker: bad configuration: WORKER_CPU_PROFILE: "+err.Error())
			return 2
		}
		defer stopProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	m := NewMain(cfg, *sandbox, os.Stderr)
	m.gc = tuneGC(cfg.GCHeapTargetMB, environ)
	err = m.Run(ctx)
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, "worker: bad configuration: "+err.Error())
			return 2
		}
		fmt.Fprintln(os.Stderr, "worker: "+err.Error())
		return 1
	}
	return 0
}
