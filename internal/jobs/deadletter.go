package jobs

import (
	"context"
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
	return err
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
