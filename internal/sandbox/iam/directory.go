package iam

import (
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Account is what IAM holds for one account.
type Account struct {
	OIDCProviders []OIDCProvider
	Roles         map[string]*Role
	// ManagedPolicies are the account's customer managed policies by name.
	ManagedPolicies map[string]ManagedPolicy
	// Administrator is the account's administrator user.
	Administrator Administrator
}

// Directory holds every account's roles, OIDC providers and policies.
// Lookups return values that must not be changed: a change (an IAM API
// call) replaces the value under the directory's lock, so that STS, ECR and
// ECS see it on their next lookup.
type Directory struct {
	// created is when the world's entities were created: the start.
	created time.Time

	mu       sync.RWMutex
	accounts map[string]*Account
}

// NewDirectory returns a directory of accounts, copied so that the caller's
// maps stay its own; roles without a creation date were created at created.
func NewDirectory(accounts map[string]Account, created time.Time) *Directory {
	d := &Directory{created: created, accounts: make(map[string]*Account, len(accounts))}
	for id, a := range accounts {
		providers := slices.Clone(a.OIDCProviders)
		for i := range providers {
			if providers[i].Created.IsZero() {
				providers[i].Created = created
			}
		}
		roles := make(map[string]*Role, len(a.Roles))
		for name, r := range a.Roles {
			c := *r
			if c.Created.IsZero() {
				c.Created = created
			}
			roles[name] = &c
		}
		d.accounts[id] = &Account{
			OIDCProviders:   providers,
			Roles:           roles,
			ManagedPolicies: maps.Clone(a.ManagedPolicies),
			Administrator:   a.Administrator,
		}
	}
	return d
}

// Role is the named role of account; nil when there is none.
func (d *Directory) Role(account, name string) *Role {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if a := d.accounts[account]; a != nil {
		return a.Roles[name]
	}
	return nil
}

// OIDCProvider is account's provider for host (an issuer without scheme);
// nil when the account has none.
func (d *Directory) OIDCProvider(account, host string) *OIDCProvider {
	d.mu.RLock()
	defer d.mu.RUnlock()
	a := d.accounts[account]
	if a == nil {
		return nil
	}
	for i := range a.OIDCProviders {
		if strings.TrimSuffix(a.OIDCProviders[i].URL, "/") == host {
			p := a.OIDCProviders[i]
			p.ClientIDs = slices.Clone(p.ClientIDs)
			return &p
		}
	}
	return nil
}

// ManagedPolicy is the managed policy an ARN names, as seen from account:
// AWS's AdministratorAccess, or a customer managed policy of the account;
// ok is false when there is none.
func (d *Directory) ManagedPolicy(account, arn string) (name string, p ManagedPolicy, ok bool) {
	if strings.HasSuffix(arn, administratorAccessSuffix) && strings.HasPrefix(arn, "arn:") {
		return "AdministratorAccess", ManagedPolicy{Path: "/", Document: administratorAccess}, true
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	a := d.accounts[account]
	if a == nil {
		return "", ManagedPolicy{}, false
	}
	for n, mp := range a.ManagedPolicies {
		path := mp.Path
		if path == "" {
			path = "/"
		}
		// The ARN in any partition: the account's partition is the world's.
		if strings.HasPrefix(arn, "arn:") && strings.HasSuffix(arn, ":iam::"+account+":policy"+path+n) {
			return n, mp, true
		}
	}
	return "", ManagedPolicy{}, false
}

// read runs f with account's entry (nil when the account is unknown),
// which f must not change.
func (d *Directory) read(account string, f func(a *Account)) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	f(d.accounts[account])
}

// update runs f with account's entry under the write lock. f replaces the
// values it changes (a new *Role, a new provider list) rather than changing
// them in place, since readers may hold the old ones.
func (d *Directory) update(account string, f func(a *Account)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.accounts[account]
	if a == nil {
		a = &Account{Roles: map[string]*Role{}}
		d.accounts[account] = a
	}
	if a.Roles == nil {
		a.Roles = map[string]*Role{}
	}
	f(a)
}

// Administrators lists every account's administrator, by account.
func (d *Directory) Administrators() map[string]Administrator {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := map[string]Administrator{}
	for id, a := range d.accounts {
		out[id] = a.Administrator
	}
	return out
}

// RoleID derives a stable AROA... identifier for a role, as IAM gives every
// role one unique ID for its life.
func RoleID(account, name string) string { return stableID("AROA", account+"/"+name) }

// UserID is a user's unique ID (AIDA...).
func UserID(account, name string) string { return stableID("AIDA", account+"/user/"+name) }

// PolicyID is a managed policy's unique ID (ANPA...).
func PolicyID(arn string) string { return stableID("ANPA", arn) }

func stableID(prefix, of string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	// FNV-1a of the bytes (IAM's names and ARNs are ASCII).
	f := fnv.New64a()
	_, _ = f.Write([]byte(of)) // a hash.Hash never fails to write
	h := f.Sum64()
	var b strings.Builder
	b.WriteString(prefix)
	for range 17 {
		b.WriteByte(alphabet[h%uint64(len(alphabet))])
		h = h*6364136223846793005 + 1442695040888963407
	}
	return b.String()
}
