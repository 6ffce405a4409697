package iam

import (
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
)

// Sessions holds every credential STS has issued; signed calls are
// verified against them.
type Sessions struct {
	now      func() time.Time
	lifetime time.Duration // cap on every session; 0 = none

	mu     sync.Mutex
	byKey  map[string]*awsproto.Session
	issued int
}

// NewSessions returns an empty store whose sessions last at most lifetime
// (no cap when 0).
func NewSessions(now func() time.Time, lifetime time.Duration) *Sessions {
	return &Sessions{byKey: map[string]*awsproto.Session{}, now: now, lifetime: lifetime}
}

// Issue mints credentials for the session described by tmpl, valid for d
// (capped by the store's lifetime).
func (st *Sessions) Issue(tmpl awsproto.Session, d time.Duration) *awsproto.Session {
	if st.lifetime > 0 && d > st.lifetime {
		d = st.lifetime
	}
	s := tmpl
	s.AccessKeyID = "ASIA" + randid.Upper(16)
	s.SecretAccessKey = randid.Token(30)
	s.SessionToken = "IQoJb3JpZ2luX2VjE" + randid.Token(96)
	s.Expiration = st.now().Add(d).UTC().Truncate(time.Second)
	st.mu.Lock()
	st.byKey[s.AccessKeyID] = &s
	st.issued++
	st.mu.Unlock()
	return &s
}

// Lookup finds the session of an access key ID.
func (st *Sessions) Lookup(accessKeyID string) (*awsproto.Session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byKey[accessKeyID]
	return s, ok
}

// Issued is how many credentials have been issued so far.
func (st *Sessions) Issued() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.issued
}

// Secrets lists the secret keys and session tokens issued so far, for
// tests that prove none reached a log.
func (st *Sessions) Secrets() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]string, 0, 2*len(st.byKey))
	for _, s := range st.byKey {
		for _, secret := range []string{s.SecretAccessKey, s.SessionToken} {
			// A user's long-term key has no session token.
			if secret != "" {
				out = append(out, secret)
			}
		}
	}
	return out
}

// neverExpires is the expiry of a long-term access key: none.
var neverExpires = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// AddUser registers an IAM user's long-term access key, which signs calls
// without a session token and does not expire.
func (st *Sessions) AddUser(account string, admin Administrator, part partition.Partition) {
	s := &awsproto.Session{
		Partition:       part,
		AccessKeyID:     admin.AccessKeyID,
		SecretAccessKey: admin.SecretAccessKey,
		Expiration:      neverExpires,
		Account:         account,
		UserName:        admin.UserName,
		UserID:          UserID(account, admin.UserName),
	}
	st.mu.Lock()
	st.byKey[s.AccessKeyID] = s
	st.mu.Unlock()
}
