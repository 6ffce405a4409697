package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Session is a set of temporary credentials that STS issued, and who they
// belong to. Every signed call is verified against one.
type Session struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time

	// Account owns the role.
	Account string
	// RoleName is the assumed role's name.
	RoleName string
	// RoleID is the role's unique ID (AROA...), stable across sessions.
	RoleID string
	// SessionName is the role session name the caller gave.
	SessionName string
	// SourceIdentity describes how the session was obtained, for diagnostics:
	// the web-identity subject or the ARN of the session that chained into it.
	SourceIdentity string
}

// RoleARN is the ARN of the assumed role.
func (s *Session) RoleARN() string {
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", s.Account, s.RoleName)
}

// AssumedRoleARN is what GetCallerIdentity and CloudTrail show for the session.
func (s *Session) AssumedRoleARN() string {
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.Account, s.RoleName, s.SessionName)
}

// AssumedRoleID is the role's ID joined with the session name, as AWS shows it.
func (s *Session) AssumedRoleID() string { return s.RoleID + ":" + s.SessionName }

// sessionStore holds every credential STS has issued.
type sessionStore struct {
	mu       sync.Mutex
	byKey    map[string]*Session
	now      func() time.Time
	issued   int
	lifetime time.Duration // cap from World.CredentialLifetimeSeconds; 0 = none
}

func newSessionStore(now func() time.Time, lifetime time.Duration) *sessionStore {
	return &sessionStore{byKey: map[string]*Session{}, now: now, lifetime: lifetime}
}

// issue mints credentials for the session described by tmpl, valid for d
// (capped by the world's credential lifetime).
func (st *sessionStore) issue(tmpl Session, d time.Duration) *Session {
	if st.lifetime > 0 && d > st.lifetime {
		d = st.lifetime
	}
	s := tmpl
	s.AccessKeyID = "ASIA" + randomUpper(16)
	s.SecretAccessKey = randomToken(30)
	s.SessionToken = "IQoJb3JpZ2luX2VjE" + randomToken(96)
	s.Expiration = st.now().Add(d).UTC().Truncate(time.Second)
	st.mu.Lock()
	st.byKey[s.AccessKeyID] = &s
	st.issued++
	st.mu.Unlock()
	return &s
}

func (st *sessionStore) lookup(accessKeyID string) (*Session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byKey[accessKeyID]
	return s, ok
}

// IssuedCount is how many credentials have been issued so far.
func (st *sessionStore) issuedCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.issued
}

// all returns every session issued, for tests that check logs for secrets.
func (st *sessionStore) all() []Session {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]Session, 0, len(st.byKey))
	for _, s := range st.byKey {
		out = append(out, *s)
	}
	return out
}

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

func randomUpper(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = upperAlnum[int(b[i])%len(upperAlnum)]
	}
	return string(b)
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.TrimRight(base64.StdEncoding.EncodeToString(b), "=")
}

// roleID derives a stable AROA... identifier for a role.
func roleID(account, name string) string {
	const alphabet = upperAlnum
	h := uint64(14695981039346656037)
	for _, c := range account + "/" + name {
		h ^= uint64(c)
		h *= 1099511628211
	}
	var b strings.Builder
	b.WriteString("AROA")
	for range 17 {
		b.WriteByte(alphabet[h%uint64(len(alphabet))])
		h = h*6364136223846793005 + 1442695040888963407
	}
	return b.String()
}
