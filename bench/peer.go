package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/nats-io/nats.go"
)

// The peer is what a Go team would assemble instead of crmsync: a Watermill
// router reading the jobs from a JetStream work-queue stream through
// watermill-nats' JetStream subscriber (one grouped durable consumer, one
// handler per slot so that -slots jobs run at once), with Watermill's Retry
// and Throttle middleware, calling the APIs through hashicorp's
// go-retryablehttp (which retries 429 and 5xx and honours Retry-After). Each
// KlickTipp job logs in, lists the tags, upserts its contacts one POST
// /subscriber at a time and logs out, like crmsync in session mode; each
// ClickyID job validates its emails 100 at a time. It publishes one result
// per job (the same JSON shape as crmsync's) through Watermill's JetStream
// publisher.

const (
	peerJobs    = "peer_jobs"    // stream, subject and Watermill topic
	peerResults = "peer_results" // likewise
)

type peerConfig struct {
	natsURL, ktURL, ciURL string
	slots                 int
	throttle              int // messages per second the router takes; 0 = none
}

func peerMain(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	var cfg peerConfig
	fs.StringVar(&cfg.natsURL, "nats", "", "NATS URL")
	fs.StringVar(&cfg.ktURL, "klicktipp", "", "KlickTipp base URL")
	fs.StringVar(&cfg.ciURL, "clickyid", "", "ClickyID base URL")
	fs.IntVar(&cfg.slots, "slots", 8, "jobs at once")
	fs.IntVar(&cfg.throttle, "throttle", 0, "messages per second (Throttle middleware); 0: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	logger := watermill.NopLogger{} // crmsync logs nothing per request either
	nc, err := nats.Connect(cfg.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{
		Conn: nc, Logger: logger, AckWaitTimeout: 60 * time.Second,
		ResourceInitializer: wmjs.GroupedConsumer("peer"),
	})
	if err != nil {
		return err
	}
	pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{Conn: nc, Logger: logger})
	if err != nil {
		return err
	}

	hc := retryablehttp.NewClient()
	hc.Logger = nil
	hc.RetryMax = 8
	hc.RetryWaitMin = 100 * time.Millisecond
	hc.RetryWaitMax = 30 * time.Second
	hc.HTTPClient.Timeout = 30 * time.Second
	hc.HTTPClient.Transport.(*http.Transport).MaxIdleConnsPerHost = cfg.slots * 2
	p := &peer{cfg: cfg, http: hc, pub: pub}

	router, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		return err
	}
	router.AddMiddleware(
		middleware.Recoverer,
		middleware.Retry{MaxRetries: 5, InitialInterval: 100 * time.Millisecond, MaxInterval: 5 * time.Second, Multiplier: 2, Logger: logger}.Middleware,
	)
	if cfg.throttle > 0 {
		router.AddMiddleware(middleware.NewThrottle(int64(cfg.throttle), time.Second).Middleware)
	}
	for i := range cfg.slots {
		router.AddConsumerHandler(fmt.Sprintf("job-%d", i), peerJobs, sub, p.handle)
	}
	go func() {
		<-router.Running()
		fmt.Println("peer ready")
	}()
	return router.Run(ctx)
}

type peer struct {
	cfg  peerConfig
	http *retryablehttp.Client
	pub  message.Publisher
}

type itemError struct{ error }

func (p *peer) handle(msg *message.Message) error {
	var job jobBody
	if err := json.Unmarshal(msg.Payload, &job); err != nil {
		return nil // nothing to retry; a real pipeline would dead-letter it
	}
	ctx := msg.Context()
	res := map[string]any{"id": job.ID, "kind": job.Kind, "started": time.Now().UTC()}
	var ok, failed int
	var err error
	switch job.Kind {
	case "contact.upsert":
		ok, failed, err = p.upsert(ctx, job)
	case "email.validate":
		ok, failed, err = p.validate(ctx, job)
	}
	if err != nil {
		return err // the Retry middleware runs the whole job again
	}
	res["finished"] = time.Now().UTC()
	res["counts"] = map[string]int{"total": ok + failed, "succeeded": ok, "failed": failed}
	res["status"] = "succeeded"
	body, _ := json.Marshal(res)
	return p.pub.Publish(peerResults, message.NewMessage(watermill.NewUUID(), body))
}

func (p *peer) do(ctx context.Context, method, url string, hdr http.Header, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

var peerTags sync.Map // tag name -> id, shared by the handlers

func (p *peer) upsert(ctx context.Context, job jobBody) (ok, failed int, err error) {
	base := p.cfg.ktURL
	var login struct {
		SessID      string `json:"sessid"`
		SessionName string `json:"session_name"`
	}
	if _, err := p.do(ctx, http.MethodPost, base+"/account/login", nil,
		map[string]string{"username": "sandbox", "password": "sandbox-password"}, &login); err != nil {
		return 0, 0, err
	}
	hdr := http.Header{"Cookie": {login.SessionName + "=" + login.SessID}, "X-Session-Id": {login.SessID}}
	defer func() {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = p.do(lctx, http.MethodPost, base+"/account/logout", hdr, nil, nil)
	}()
	var tags map[string]string
	if _, err := p.do(ctx, http.MethodGet, base+"/tag", hdr, nil, &tags); err != nil {
		return 0, 0, err
	}
	for id, name := range tags {
		peerTags.Store(name, id)
	}
	for _, c := range job.Contacts {
		body := map[string]any{"email": c.Email, "fields": c.Fields}
		for _, t := range c.Tags {
			if name, isName := t.(string); isName {
				if id, found := peerTags.Load(name); found {
					body["tagid"] = id
				}
			}
		}
		var sub struct {
			ID json.Number `json:"id"` // recorded in a result, as crmsync records it
		}
		status, err := p.do(ctx, http.MethodPost, base+"/subscriber", hdr, body, &sub)
		switch {
		case err == nil:
			ok++
		case status >= 400 && status < 500 && status != http.StatusTooManyRequests:
			failed++ // an item failure, recorded in the result
		default:
			return 0, 0, err
		}
	}
	return ok, failed, nil
}

func (p *peer) validate(ctx context.Context, job jobBody) (ok, failed int, err error) {
	hdr := http.Header{"Authorization": {"Bearer " + clickyKey}}
	for i := 0; i < len(job.Emails); i += 100 {
		chunk := job.Emails[i:min(i+100, len(job.Emails))]
		type verdict struct {
			Email   string `json:"email"`
			IsValid bool   `json:"isValid"`
			Reason  string `json:"reason"`
		}
		var out struct {
			Results []verdict `json:"results"`
			Data    struct {
				Results []verdict `json:"results"`
			} `json:"data"`
		}
		if _, err := p.do(ctx, http.MethodPost, p.cfg.ciURL+"/validate/bulk", hdr,
			map[string]any{"emails": chunk, "targetGroupIds": job.TargetGroupIDs, "mode": job.Mode}, &out); err != nil {
			return 0, 0, err
		}
		if out.Results == nil {
			out.Results = out.Data.Results
		}
		if len(out.Results) != len(chunk) {
			return 0, 0, errors.New("bulk answer does not match the request")
		}
		ok += len(out.Results)
	}
	return ok, 0, nil
}
