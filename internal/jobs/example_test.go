package jobs_test

import (
	"errors"
	"fmt"

	"crmsync/internal/jobs"
)

// Decode validates a job message as the worker receives it; a message that
// can never succeed is an *InvalidError naming its dead-letter subject.
func ExampleDecode() {
	body := []byte(`{"id":"signup-check-7","kind":"email.validate","emails":["a@uni.example","bad@"],"targetGroupIds":["tg_uni"]}`)
	job, err := jobs.Decode("crmsync.jobs.email.validate", body, jobs.Limits{})
	if err != nil {
		panic(err)
	}
	fmt.Println(job.ID, job.Kind, job.Account, job.Mode, job.Items())
	for i := range job.Items() {
		fmt.Println(job.Emails[i], jobs.CheckItem(job, i))
	}

	_, err = jobs.Decode("crmsync.jobs.email.validate", []byte(`{"kind":"contact.upsert"}`), jobs.Limits{})
	var inv *jobs.InvalidError
	if errors.As(err, &inv) {
		fmt.Println(jobs.DeadLetterSubject(inv.Kind)+":", inv.Reason)
	}
	// Output:
	// signup-check-7 email.validate default any 2
	// a@uni.example <nil>
	// bad@ email "bad@" is not a valid address
	// crmsync.dlq.contact.upsert: kind "contact.upsert" does not match subject "crmsync.jobs.email.validate"
}
