package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"crmsync/internal/apis/klicktipp"
)

// KlickTippUpsert handles contact.upsert for target klicktipp. In session
// mode it logs in once before the job's first call and logs out once after
// its last, on every path (success, failure, panic, shutdown); in partner
// mode it never logs in. A session is never shared between jobs.
type KlickTippUpsert struct {
	Client *klicktipp.Client
	// CreateTags creates a tag named in a job that does not exist yet;
	// when false such contacts fail with "tag not found".
	CreateTags bool

	// creating serialises tag creation between this process's jobs, so two
	// jobs naming the same new tag do not both create it.
	creating sync.Mutex
}

var _ Handler = (*KlickTippUpsert)(nil)

// logoutTimeout bounds the logout, which runs even after the job's context
// is cancelled (shutdown).
const logoutTimeout = 30 * time.Second

// Handle upserts the pending contacts: resolve tag names once, then per
// contact POST /subscriber (with the list, the fields and the first tag) and
// POST /subscriber/tag for further tags; records the subscriber id. A 4xx
// about one contact fails that contact; an unknown list id that every
// contact of the job names dead-letters the job with KlickTipp's reason.
func (h *KlickTippUpsert) Handle(ctx context.Context, job *Job, a *Attempt) (err error) {
	pending := a.Pending()
	if len(pending) == 0 {
		return nil
	}
	var sess *klicktipp.Session
	if err := a.Call(ctx, func(ctx context.Context) error {
		var lerr error
		sess, lerr = h.Client.Login(ctx)
		return lerr
	}); err != nil {
		return JobError(fmt.Errorf("login: %w", err))
	}
	defer func() {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoutTimeout)
		defer cancel()
		if lerr := sess.Logout(lctx); lerr != nil {
			a.Log.Warn("klicktipp logout failed; the session expires on its own", "err", lerr)
		}
		if n := sess.Relogins(); n > 0 {
			a.Log.Info("klicktipp session expired mid-job and was renewed", "relogins", n)
		}
	}()

	tags, err := h.resolveTags(ctx, sess, job, pending, a)
	if err != nil {
		return err
	}
	list := sharedList(job.Contacts)
	for _, i := range pending {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c := job.Contacts[i]
		ids, terr := tagIDs(c.Tags, tags)
		if terr != nil {
			a.Fail(i, terr)
			continue
		}
		req := klicktipp.SubscribeRequest{Email: c.Email, ListID: c.ListID, Fields: c.Fields}
		if len(ids) > 0 {
			req.TagID = ids[0]
		}
		var subID int64
		err := a.Call(ctx, func(ctx context.Context) error {
			var serr error
			subID, serr = sess.SubscribeID(ctx, req)
			return serr
		})
		if err == nil && len(ids) > 1 {
			err = a.Call(ctx, func(ctx context.Context) error { return sess.Tag(ctx, c.Email, ids[1:]) })
		}
		switch {
		case err == nil:
			a.Succeed(i, ItemResult{SubscriberID: strconv.FormatInt(subID, 10)})
		case list != 0 && klicktipp.IsListNotFound(err):
			// Every contact names this list: no item can succeed.
			return Permanent(fmt.Errorf("listid %d, named by every contact: %w", list, err))
		case ItemFailure(err):
			a.Fail(i, err)
		default:
			return JobError(err)
		}
	}
	return nil
}

// resolveTags maps every tag name used by the pending contacts to its id:
// GET /tag once; when a name is missing and CreateTags is set, GET /tag again
// under a per-process lock and POST /tag for each name still missing.
// A name that cannot be resolved maps to 0 (its contacts fail).
func (h *KlickTippUpsert) resolveTags(ctx context.Context, sess *klicktipp.Session, job *Job, pending []int, a *Attempt) (map[string]int64, error) {
	names := map[string]int64{}
	for _, i := range pending {
		for _, t := range job.Contacts[i].Tags {
			if t.Name != "" {
				names[strings.ToLower(t.Name)] = 0
			}
		}
	}
	if len(names) == 0 {
		return names, nil
	}
	if err := lookUpTags(ctx, sess, a, names); err != nil {
		return nil, err
	}
	missing := false
	for _, id := range names {
		missing = missing || id == 0
	}
	if !h.CreateTags || !missing {
		return names, nil
	}
	// Another job may be creating the same tag right now: create under the
	// lock, after listing the tags again.
	h.creating.Lock()
	defer h.creating.Unlock()
	if err := lookUpTags(ctx, sess, a, names); err != nil {
		return nil, err
	}
	for _, i := range pending {
		for _, t := range job.Contacts[i].Tags {
			key := strings.ToLower(t.Name)
			if t.Name == "" || names[key] != 0 {
				continue
			}
			var id int64
			err := a.Call(ctx, func(ctx context.Context) error {
				var cerr error
				id, cerr = sess.CreateTag(ctx, t.Name)
				return cerr
			})
			switch {
			case err == nil:
				names[key] = id
				a.Log.Info("created klicktipp tag", "tag", t.Name, "id", id)
			case ItemFailure(err):
				a.Log.Warn("cannot create klicktipp tag", "tag", t.Name, "err", err)
				names[key] = -1 // do not try again in this job
			default:
				return nil, JobError(fmt.Errorf("creating tag %q: %w", t.Name, err))
			}
		}
	}
	return names, nil
}

// lookUpTags lists the account's tags (GET /tag) and sets the id of every
// name in names (lower-cased) that exists; with duplicates the lowest id wins.
func lookUpTags(ctx context.Context, sess *klicktipp.Session, a *Attempt, names map[string]int64) error {
	var existing map[int64]string
	if err := a.Call(ctx, func(ctx context.Context) error {
		var err error
		existing, err = sess.Tags(ctx)
		return err
	}); err != nil {
		return JobError(fmt.Errorf("listing tags: %w", err))
	}
	for id, name := range existing {
		key := strings.ToLower(strings.TrimSpace(name))
		if cur, ok := names[key]; ok && (cur == 0 || id < cur) {
			names[key] = id
		}
	}
	return nil
}

var errTagNotFound = errors.New("tag not found")

func tagIDs(refs []TagRef, names map[string]int64) ([]int64, error) {
	ids := make([]int64, 0, len(refs))
	seen := map[int64]bool{}
	for _, t := range refs {
		id := t.ID
		if t.Name != "" {
			id = names[strings.ToLower(t.Name)]
			if id <= 0 {
				return nil, fmt.Errorf("klicktipp: tag %q: %w", t.Name, errTagNotFound)
			}
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// sharedList returns the list id every contact names, or 0 when they name
// different lists or none.
func sharedList(cs []Contact) int64 {
	if len(cs) == 0 {
		return 0
	}
	id := cs[0].ListID
	for _, c := range cs[1:] {
		if c.ListID != id {
			return 0
		}
	}
	return id
}
