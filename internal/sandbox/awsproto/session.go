package awsproto

import (
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// Session is a set of temporary credentials that STS issued and who they
// belong to: every signed call is verified against one, and the call's
// Caller is the session.
type Session struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time

	// Account owns the role.
	Account string
	// RoleName is the assumed role's name.
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
