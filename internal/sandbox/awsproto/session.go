package awsproto

import (
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// Session is a set of credentials every signed call is verified against,
// and who they belong to: a role session STS issued, or an IAM user's
// long-term access key. The call's Caller is the session.
type Session struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time

	// Account owns the role or the user.
	Account string
	// RoleName is the assumed role's name; empty for a user.
	RoleName string
	// RolePath is the role's path (/ when empty), part of its ARN but not of
	// the assumed-role ARN.
	RolePath string
	// RoleID is the role's unique ID (AROA...), stable across sessions.
	RoleID string
	// SessionName is the role session name the caller gave.
	SessionName string
	// SourceIdentity describes how the session was obtained, for diagnostics:
	// the web-identity subject or the ARN of the session that chained into it.
	SourceIdentity string
	// Partition is the partition of the role, which its ARNs name.
	Partition partition.Partition
	// UserName is the IAM user of a long-term access key; empty for a role
	// session.
	UserName string
	// UserID is that user's unique ID (AIDA...).
	UserID string
}

// RoleARN is the ARN of the assumed role, path included: what
// aws:PrincipalArn holds and trust policies name.
func (s *Session) RoleARN() string {
	path := s.RolePath
	if path == "" {
		path = "/"
	}
	return s.Partition.ARN("iam", "", s.Account, "role"+path+s.RoleName)
}

// AssumedRoleARN is what GetCallerIdentity and CloudTrail show for the
// session. It never carries the role's path: IAM's assumed-role ARN is
// arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION.
func (s *Session) AssumedRoleARN() string {
	return s.Partition.ARN("sts", "", s.Account, "assumed-role/"+s.RoleName+"/"+s.SessionName)
}

// AssumedRoleID is the role's ID joined with the session name, as AWS shows it.
func (s *Session) AssumedRoleID() string { return s.RoleID + ":" + s.SessionName }

// IsUser reports whether the credentials are an IAM user's access key.
func (s *Session) IsUser() bool { return s.UserName != "" }

// PrincipalARN is who the caller is, as GetCallerIdentity and error
// messages name it: the user's ARN, or the assumed role's.
func (s *Session) PrincipalARN() string {
	if s.IsUser() {
		return s.Partition.ARN("iam", "", s.Account, "user/"+s.UserName)
	}
	return s.AssumedRoleARN()
}

// PrincipalID is the caller's unique ID as GetCallerIdentity shows it.
func (s *Session) PrincipalID() string {
	if s.IsUser() {
		return s.UserID
	}
	return s.AssumedRoleID()
}
