package deadletter_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"crmsync/internal/deadletter"
	"crmsync/internal/jobs"
)

// A job the worker gave up on is listed, then replayed to the subject it
// came from under a fresh Nats-Msg-Id.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "deadletter-example-*")
	defer os.RemoveAll(dir)
	srv, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
	go srv.Start()
	defer srv.WaitForShutdown()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		fmt.Println("server not ready")
		return
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, sc := range jobs.Streams(jobs.StreamConfig{}) {
		js.CreateOrUpdateStream(ctx, sc)
	}

	// What the worker stores when a job can never succeed.
	h := nats.Header{}
	h.Set(jobs.HeaderMsgID, "dlq:crm-42:7")
	h.Set(jobs.HeaderOriginalMsgID, "crm-42")
	h.Set(jobs.HeaderJobID, "crm-42")
	h.Set(jobs.HeaderError, "klicktipp: 401 bad credentials")
	h.Set(jobs.HeaderAttempts, "1")
	h.Set(jobs.HeaderOriginalSubject, jobs.KindContactUpsert.Subject())
	js.PublishMsg(ctx, &nats.Msg{Subject: jobs.DeadLetterSubject(jobs.KindContactUpsert), Header: h,
		Data: []byte(`{"id":"crm-42","kind":"contact.upsert","target":"klicktipp","contacts":[{"email":"ann@example.com"}]}`)})

	deadletter.Each(ctx, js, func(l deadletter.Letter) error {
		fmt.Printf("seq %d: job %s, %s attempts: %s\n", l.Seq, l.JobID, l.Attempts, l.Reason)
		return nil
	})
	r, err := deadletter.Replay(ctx, js, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("replayed to %s as %s\n", r.Subject, r.MsgID)
	if _, err := deadletter.Get(ctx, js, 1); err != nil {
		fmt.Println(err)
	}
	// Output:
	// seq 1: job crm-42, 1 attempts: klicktipp: 401 bad credentials
	// replayed to crmsync.jobs.contact.upsert as crm-42-replay-1
	// dlq seq 1: no dead letter at that sequence
}
