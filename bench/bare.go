package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// The bare loop is the physical limit: the same HTTP calls as a job batch
// needs (login, tag listing, one POST /subscriber per contact, logout per
// KlickTipp job; one bulk call per 100 emails per ClickyID job), made with
// net/http and encoding/json by -slots goroutines, with no queue, no retry,
// no limiter and no results.

func bareMain(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	var s spec
	var url string
	slots := fs.Int("slots", 8, "goroutines")
	fs.StringVar(&s.Prefix, "prefix", "bare", "job id prefix")
	fs.StringVar(&s.API, "api", "klicktipp", "klicktipp or clickyid")
	fs.IntVar(&s.Jobs, "jobs", 10, "jobs")
	fs.IntVar(&s.Per, "per", 100, "items per job")
	fs.StringVar(&url, "url", "", "the API's base URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *slots * 2}}
	b := &bare{hc: hc, base: url}
	ctx := context.Background()
	next := make(chan int)
	errs := make(chan error, *slots)
	var wg sync.WaitGroup
	start := time.Now()
	for range *slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				var err error
				if s.API == "clickyid" {
					err = b.validate(ctx, s.job(j))
				} else {
					err = b.upsert(ctx, s.job(j))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var failed error
feed:
	for j := 0; j < s.Jobs; j++ {
		select {
		case next <- j:
		case failed = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		return failed
	}
	fmt.Printf("elapsed %d\n", time.Since(start).Nanoseconds())
	return nil
}

type bare struct {
	hc   *http.Client
	base string
}

func (b *bare) call(ctx context.Context, method, path string, hdr http.Header, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (b *bare) upsert(ctx context.Context, job jobBody) error {
	var login struct {
		SessID      string `json:"sessid"`
		SessionName string `json:"session_name"`
	}
	if err := b.call(ctx, http.MethodPost, "/account/login", nil, map[string]string{"username": "sandbox", "password": "sandbox-password"}, &login); err != nil {
		return err
	}
	hdr := http.Header{"Cookie": {login.SessionName + "=" + login.SessID}, "X-Session-Id": {login.SessID}}
	defer b.call(ctx, http.MethodPost, "/account/logout", hdr, nil, nil)
	var tags map[string]string
	if err := b.call(ctx, http.MethodGet, "/tag", hdr, nil, &tags); err != nil {
		return err
	}
	tagID := ""
	for id, name := range tags {
		if name == "newsletter" {
			tagID = id
		}
	}
	for _, c := range job.Contacts {
		// Only the id, which a result records (as crmsync and the peer do).
		var sub struct {
			ID json.Number `json:"id"`
		}
		if err := b.call(ctx, http.MethodPost, "/subscriber", hdr, map[string]any{"email": c.Email, "tagid": tagID, "fields": c.Fields}, &sub); err != nil {
			return err
		}
	}
	return nil
}

func (b *bare) validate(ctx context.Context, job jobBody) error {
	hdr := http.Header{"Authorization": {"Bearer " + clickyKey}}
	for i := 0; i < len(job.Emails); i += 100 {
		var out struct {
			Results []struct {
				Email   string `json:"email"`
				IsValid bool   `json:"isValid"`
			} `json:"results"`
		}
		chunk := job.Emails[i:min(i+100, len(job.Emails))]
		if err := b.call(ctx, http.MethodPost, "/validate/bulk", hdr, map[string]any{"emails": chunk, "targetGroupIds": job.TargetGroupIDs, "mode": job.Mode}, &out); err != nil {
			return err
		}
	}
	return nil
}
