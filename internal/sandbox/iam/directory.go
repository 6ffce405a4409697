package iam

import (
	"strings"
	"sync"
)

// Account is what IAM holds for one account.
type Account struct {
	OIDCProviders []OIDCProvider
	Roles         map[string]*Role
}

// Directory holds every account's roles and OIDC providers. Lookups return
// values that must not be changed: a change (an IAM API call) replaces the
// value under the directory's lock.
type Directory struct {
	mu       sync.RWMutex
	accounts map[string]*Account
}

// NewDirectory returns a directory of accounts, copied so that the caller's
// maps stay its own.
func NewDirectory(accounts map[string]Account) *Directory {
	d := &Directory{accounts: make(map[string]*Account, len(accounts))}
	for id, a := range accounts {
		roles := make(map[string]*Role, len(a.Roles))
		for name, r := range a.Roles {
			roles[name] = r
		}
		d.accounts[id] = &Account{OIDCProviders: append([]OIDCProvider(nil), a.OIDCProviders...), Roles: roles}
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
			return &p
		}
	}
	return nil
}

// RoleID derives a stable AROA... identifier for a role, as IAM gives every
// role one unique ID for its life.
func RoleID(account, name string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
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
