package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheck GETs /healthz on the worker's own HTTP_ADDR (for the
// container HEALTHCHECK, as the runtime image has no curl) and returns the
// exit status: 0 healthy, 1 not.
func healthcheck(httpAddr string) int {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck: HTTP_ADDR:", err)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: /healthz answered", resp.Status)
		return 1
	}
	return 0
}
