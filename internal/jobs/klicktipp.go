package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
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
	// Locks, when set, makes creating a tag single across the fleet: a
	// replica creates a missing tag only under the lock of (Credential, tag
	// name) in LocksBucket, after listing the tags again; the others wait
	// for it and list again. Nil: single within this process only.
	Locks *Locks
	// Credential names the KlickTipp account in lock keys (the username,
	// as its limiter does); only its hash is written.
	Credential string

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
// GET /tag once; when a name is missing and CreateTags is set, POST /tag
// for each name still missing after listing the tags again, under a
// per-process lock and (with Locks) the fleet-wide lock of the name.
// A name that cannot be resolved maps to 0 (its contacts fail).
func (h *KlickTippUpsert) resolveTags(ctx context.Context, sess *klicktipp.Session, job *Job, pending []int, a *Attempt) (map[string]int64, error) {
	names := map[string]int64{}
	spelled := map[string]string{} // lower-cased → as the job first spells it
	for _, i := range pending {
		for _, t := range job.Contacts[i].Tags {
			if t.Name == "" {
				continue
			}
			key := strings.ToLower(t.Name)
			names[key] = 0
			if _, ok := spelled[key]; !ok {
				spelled[key] = t.Name
			}
		}
	}
	if len(names) == 0 {
		return names, nil
	}
	if err := lookUpTags(ctx, sess, a, names); err != nil {
		return nil, err
	}
	var missing []string
	for key, id := range names {
		if id == 0 {
			missing = append(missing, key)
		}
	}
	if !h.CreateTags || len(missing) == 0 {
		return names, nil
	}
	sort.Strings(missing)
	// Another job may be creating the same tag right now: create under the
	// lock, after listing the tags again.
	h.creating.Lock()
	defer h.creating.Unlock()
	if h.Locks == nil {
		if err := lookUpTags(ctx, sess, a, names); err != nil {
			return nil, err
		}
		for _, key := range missing {
			if err := h.createTag(ctx, sess, a, names, key, spelled[key]); err != nil {
				return nil, err
			}
		}
		return names, nil
	}
	for _, key := range missing {
		if err := h.createOnce(ctx, sess, a, names, key, spelled[key]); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// createOnce creates the tag key (spelled name) unless it exists, under
// its fleet-wide lock: whoever takes the lock lists the tags again and
// creates the tag if still missing; whoever finds it held waits for its
// release (or expiry) and lists again.
func (h *KlickTippUpsert) createOnce(ctx context.Context, sess *klicktipp.Session, a *Attempt, names map[string]int64, key, name string) error {
	lk := tagLockKey(h.Credential, key)
	for names[key] == 0 {
		held, err := h.Locks.TryLock(ctx, lk)
		if err != nil {
			return fmt.Errorf("creating tag %q: %w", name, err)
		}
		if held == nil {
			if err := h.Locks.Wait(ctx, lk); err != nil {
				return fmt.Errorf("creating tag %q: waiting for another replica: %w", name, err)
			}
			if err := lookUpTags(ctx, sess, a, names); err != nil {
				return err
			}
			continue
		}
		err = lookUpTags(ctx, sess, a, names)
		if err == nil && names[key] == 0 {
			err = h.createTag(ctx, sess, a, names, key, name)
		}
		held.Release()
		return err
	}
	return nil
}

// createTag creates the tag key (spelled name) if names has no id for it,
// and records its id, or -1 when KlickTipp refused it (its contacts fail;
// it is not tried again in this job).
func (h *KlickTippUpsert) createTag(ctx context.Context, sess *klicktipp.Session, a *Attempt, names map[string]int64, key, name string) error {
	if names[key] != 0 {
		return nil
	}
	var id int64
	err := a.Call(ctx, func(ctx context.Context) error {
		var cerr error
		id, cerr = sess.CreateTag(ctx, name)
		return cerr
	})
	switch {
	case err == nil:
		names[key] = id
		a.Log.Info("created klicktipp tag", "tag", name, "id", id)
	case ItemFailure(err):
		a.Log.Warn("cannot create klicktipp tag", "tag", name, "err", err)
		names[key] = -1
	default:
		return JobError(fmt.Errorf("creating tag %q: %w", name, err))
	}
	return nil
}

// tagLockKey is the LocksBucket key of creating tag name (lower-cased) for
// the KlickTipp account credential: "klicktipp.<hash>.tag.<hash>", the
// credential hashed as the limiter hashes it, so no key holds a secret.
func tagLockKey(credential, name string) string {
	c := sha256.Sum256([]byte("klicktipp\x00" + credential))
	n := sha256.Sum256([]byte(strings.TrimSpace(name)))
	return "klicktipp." + hex.EncodeToString(c[:8]) + ".tag." + hex.EncodeToString(n[:8])
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
