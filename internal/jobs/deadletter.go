package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderOriginalMsgID keeps a dead letter's original Nats-Msg-Id (its own
// Nats-Msg-Id is replaced so that dedupe on the DLQ stream works).
const HeaderOriginalMsgID = "Crmsync-Original-Msg-Id"

// DeadLetterSubject is where a message of kind k goes when it can never
// succeed; crmsync.dlq.invalid when k is empty or unknown.
func DeadLetterSubject(k Kind) string {
	if !k.valid() {
		return DLQInvalid
	}
	return DLQPrefix + string(k)
}

// deadLetter publishes msg's original body and headers (but NATS's own
// Nats-* control headers) to the dead-letter stream with the contract's
// headers, and waits for the stream's ack.
func deadLetter(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, seq uint64, kind Kind, jobID, reason string, attempts int) error {
	h := nats.Header{}
	for k, v := range msg.Headers() {
		// NATS control headers (Nats-Expected-Stream, Nats-TTL,
		// Nats-Rollup, ...) were meant for the jobs stream; on the DLQ
		// publish they would make it fail, and the message would loop.
		if len(k) >= 5 && strings.EqualFold(k[:5], "Nats-") {
			continue
		}
		h[k] = append([]string(nil), v...)
	}
	if orig := msg.Headers().Get(HeaderMsgID); orig != "" {
		h.Set(HeaderOriginalMsgID, orig)
	}
	reason = oneLine(reason)
	h.Set(HeaderMsgID, "dlq:"+jobID+":"+strconv.FormatUint(seq, 10))
	h.Set(HeaderError, reason)
	h.Set(HeaderJobID, jobID)
	h.Set(HeaderAttempts, strconv.Itoa(attempts))
	h.Set(HeaderOriginalSubject, msg.Subject())
	h.Set(HeaderDeadLetteredTime, time.Now().UTC().Format(time.RFC3339))
	_, err := js.PublishMsg(ctx, &nats.Msg{Subject: DeadLetterSubject(kind), Header: h, Data: msg.Data()})
	if errors.Is(err, nats.ErrMaxPayload) {
		// The body with the headers added is more than the server takes:
		// dead-letter what fits rather than loop on it.
		_, err = js.PublishMsg(ctx, fitted(js, msg, DeadLetterSubject(kind), h))
	}
	return err
}

// HeaderTruncated on a dead letter says its body was cut to fit the
// server's max payload, and how many bytes the original had.
const HeaderTruncated = "Crmsync-Truncated"

// fitted is the dead letter with the contract headers only (the reason at
// 200 bytes) and the body cut to what the connection's max payload leaves,
// marked with HeaderTruncated.
func fitted(js jetstream.JetStream, msg jetstream.Msg, subject string, full nats.Header) *nats.Msg {
	h := nats.Header{}
	for _, k := range []string{HeaderMsgID, HeaderJobID, HeaderAttempts, HeaderOriginalSubject, HeaderOriginalMsgID, HeaderDeadLetteredTime} {
		if v := full.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	h.Set(HeaderError, truncate(full.Get(HeaderError), 200))
	data := msg.Data()
	h.Set(HeaderTruncated, strconv.Itoa(len(data)))
	limit := 1 << 20
	if nc := js.Conn(); nc != nil && nc.MaxPayload() > 0 {
		limit = int(nc.MaxPayload())
	}
	room := limit - 64 // the header block's framing
	for k, vs := range h {
		for _, v := range vs {
			room -= len(k) + len(v) + 4
		}
	}
	if room < len(data) {
		data = data[:max(room, 0)]
	}
	return &nats.Msg{Subject: subject, Header: h, Data: data}
}

// oneLine makes a header-safe single line of at most 1,000 bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || isControl(r) {
			return ' '
		}
		return r
	}, s)
	return truncate(s, 1000)
}
