package iam

import (
	"encoding/xml"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// The API IAM speaks.
const (
	apiVersion   = "2010-05-08"
	apiNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
)

// Service is the IAM API: OIDC providers, roles, their inline policies and
// the managed policies attached to them, in the awsQuery protocol with
// IAM's error codes. Every change takes effect at once for STS, ECR and
// ECS, which read the same directory.
type Service struct {
	dir        *Directory
	authorizer *Authorizer
	partition  partition.Partition
	now        func() time.Time
}

var _ awsproto.Service = (*Service)(nil)

// NewService returns the IAM API of the partition's accounts over dir,
// authorizing every call with authorizer.
func NewService(dir *Directory, authorizer *Authorizer, part partition.Partition, now func() time.Time) *Service {
	return &Service{dir: dir, authorizer: authorizer, partition: part, now: now}
}

// API is IAM's: awsQuery, every call signed, for IAM's global region in
// the partition as well as the sandbox's own.
func (s *Service) API() awsproto.API {
	return awsproto.API{Name: "iam", Protocol: awsproto.Query, Version: apiVersion, Namespace: apiNamespace, SigningRegion: globalRegions[s.partition.ID]}
}

// globalRegions are where IAM, a global service, signs in each partition.
var globalRegions = map[string]string{"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

// Handle serves one IAM call.
func (s *Service) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	op, ok := operations[c.Operation]
	if !ok {
		return nil, awsproto.Errorf("InvalidAction", "Could not find operation %s for version %s", c.Operation, apiVersion)
	}
	return op(s, c)
}

var operations = map[string]func(*Service, *awsproto.Call) (any, *awsproto.Error){
	"CreateOpenIDConnectProvider":        (*Service).createOpenIDConnectProvider,
	"GetOpenIDConnectProvider":           (*Service).getOpenIDConnectProvider,
	"ListOpenIDConnectProviders":         (*Service).listOpenIDConnectProviders,
	"AddClientIDToOpenIDConnectProvider": (*Service).addClientIDToOpenIDConnectProvider,
	"CreateRole":                         (*Service).createRole,
	"GetRole":                            (*Service).getRole,
	"UpdateAssumeRolePolicy":             (*Service).updateAssumeRolePolicy,
	"UpdateRole":                         (*Service).updateRole,
	"PutRolePolicy":                      (*Service).putRolePolicy,
	"GetRolePolicy":                      (*Service).getRolePolicy,
	"ListRolePolicies":                   (*Service).listRolePolicies,
	"ListAttachedRolePolicies":           (*Service).listAttachedRolePolicies,
	"GetPolicy":                          (*Service).getPolicy,
	"GetPolicyVersion":                   (*Service).getPolicyVersion,
}

// authorize asks the caller's policies for iam:<operation> on resource;
// IAM answers a denial with AccessDenied (403).
func (s *Service) authorize(c *awsproto.Call, resource string) *awsproto.Error {
	action := "iam:" + c.Operation
	if s.authorizer.Decide(c.Caller, action, resource, nil).Allowed {
		return nil
	}
	return &awsproto.Error{Status: 403, Code: "AccessDenied", Message: deniedMessage(c.Caller, action, resource)}
}

// The errors IAM answers.
func noSuchEntity(format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Status: 404, Code: "NoSuchEntity", Message: fmt.Sprintf(format, args...)}
}

func alreadyExists(format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Status: 409, Code: "EntityAlreadyExists", Message: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "MalformedPolicyDocument", Message: fmt.Sprintf(format, args...)}
}

func invalidInput(format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Status: 400, Code: "InvalidInput", Message: fmt.Sprintf(format, args...)}
}

func limitExceeded(format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Status: 409, Code: "LimitExceeded", Message: fmt.Sprintf(format, args...)}
}

// members reads an awsQuery list parameter: Name.member.1, Name.member.2, ...
func members(form url.Values, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := form[fmt.Sprintf("%s.member.%d", name, i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// iso is how IAM writes timestamps.
func iso(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// encodeDocument writes a policy document as IAM returns it: the JSON as
// stored, percent-encoded (RFC 3986, spaces as %20).
func encodeDocument(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

// documentText is the text IAM returns for a document: the one stored, or
// for a world's document its JSON.
func documentText(texts map[string]string, key string, doc PolicyDocument) string {
	if t, ok := texts[key]; ok {
		return t
	}
	return doc.JSON()
}

// --- OIDC providers ---

type oidcProviderList struct {
	Member []struct {
		Arn string
	} `xml:"member"`
}

func (s *Service) providerARN(account, host string) string {
	return s.partition.ARN("iam", "", account, "oidc-provider/"+host)
}

// providerOf finds the provider an ARN names in the caller's account.
func (s *Service) providerOf(c *awsproto.Call, arn string) (host string, apiErr *awsproto.Error) {
	prefix := s.providerARN(c.Caller.Account, "")
	host, ok := strings.CutPrefix(arn, prefix)
	if !ok || host == "" {
		return "", invalidInput("ARN %s is not valid.", arn)
	}
	return host, nil
}

func (s *Service) createOpenIDConnectProvider(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	rawURL := c.Form.Get("Url")
	if !c.Form.Has("Url") {
		v.Null("url")
	} else {
		v.Length(rawURL, "url", 1, 255)
	}
	clientIDs := members(c.Form, "ClientIDList")
	thumbprints := members(c.Form, "ThumbprintList")
	for _, t := range thumbprints {
		if len(t) != 40 {
			v.Add(t, "thumbprintList", "have length less than or equal to 40")
		}
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, invalidInput("Invalid Open ID Connect Provider URL: %s", rawURL)
	}
	host := ProviderHost(rawURL)
	arn := s.providerARN(c.Caller.Account, host)
	if apiErr := s.authorize(c, arn); apiErr != nil {
		return nil, apiErr
	}
	var apiErr *awsproto.Error
	s.dir.update(c.Caller.Account, func(a *Account) {
		for _, p := range a.OIDCProviders {
			if ProviderHost(p.URL) == host {
				apiErr = alreadyExists("Provider with url %s already exists.", rawURL)
				return
			}
		}
		a.OIDCProviders = append(slices.Clone(a.OIDCProviders), OIDCProvider{
			URL: host, ClientIDs: dedupe(clientIDs), Thumbprints: thumbprints, Created: s.now(),
		})
	})
	if apiErr != nil {
		return nil, apiErr
	}
	return struct {
		XMLName                  xml.Name `xml:"CreateOpenIDConnectProviderResult"`
		OpenIDConnectProviderArn string
	}{OpenIDConnectProviderArn: arn}, nil
}

func dedupe(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

type memberList struct {
	Member []string `xml:"member"`
}

func (s *Service) getOpenIDConnectProvider(c *awsproto.Call) (any, *awsproto.Error) {
	arn := c.Form.Get("OpenIDConnectProviderArn")
	host, apiErr := s.providerOf(c, arn)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.authorize(c, arn); apiErr != nil {
		return nil, apiErr
	}
	p := s.dir.OIDCProvider(c.Caller.Account, host)
	if p == nil {
		return nil, noSuchEntity("OpenIDConnect Provider not found for arn %s", arn)
	}
	return struct {
		XMLName        xml.Name `xml:"GetOpenIDConnectProviderResult"`
		ThumbprintList memberList
		CreateDate     string
		ClientIDList   memberList
		Url            string
	}{ThumbprintList: memberList{p.Thumbprints}, CreateDate: iso(p.Created), ClientIDList: memberList{p.ClientIDs}, Url: host}, nil
}

func (s *Service) listOpenIDConnectProviders(c *awsproto.Call) (any, *awsproto.Error) {
	if apiErr := s.authorize(c, "*"); apiErr != nil {
		return nil, apiErr
	}
	var list oidcProviderList
	s.dir.read(c.Caller.Account, func(a *Account) {
		if a == nil {
			return
		}
		for _, p := range a.OIDCProviders {
			list.Member = append(list.Member, struct{ Arn string }{s.providerARN(c.Caller.Account, ProviderHost(p.URL))})
		}
	})
	return struct {
		XMLName                   xml.Name `xml:"ListOpenIDConnectProvidersResult"`
		OpenIDConnectProviderList oidcProviderList
	}{OpenIDConnectProviderList: list}, nil
}

func (s *Service) addClientIDToOpenIDConnectProvider(c *awsproto.Call) (any, *awsproto.Error) {
	arn, clientID := c.Form.Get("OpenIDConnectProviderArn"), c.Form.Get("ClientID")
	var v awsproto.Validation
	if !c.Form.Has("ClientID") {
		v.Null("clientID")
	} else {
		v.Length(clientID, "clientID", 1, 255)
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	host, apiErr := s.providerOf(c, arn)
	if apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.authorize(c, arn); apiErr != nil {
		return nil, apiErr
	}
	apiErr = noSuchEntity("OpenIDConnect Provider not found for arn %s", arn)
	s.dir.update(c.Caller.Account, func(a *Account) {
		for i, p := range a.OIDCProviders {
			if ProviderHost(p.URL) != host {
				continue
			}
			apiErr = nil
			if slices.Contains(p.ClientIDs, clientID) {
				return
			}
			providers := slices.Clone(a.OIDCProviders)
			providers[i].ClientIDs = append(slices.Clone(p.ClientIDs), clientID)
			a.OIDCProviders = providers
			return
		}
	})
	return nil, apiErr
}

// --- roles ---

var (
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	pathPattern     = regexp.MustCompile(`^(/|/[\x21-\x7e]+/)$`)
)

// roleXML is a role as IAM's XML writes it.
type roleXML struct {
	Path                     string
	RoleName                 string
	RoleId                   string
	Arn                      string
	CreateDate               string
	AssumeRolePolicyDocument string
	Description              string `xml:",omitempty"`
	MaxSessionDuration       int
}

func (s *Service) roleARN(account string, r *Role, name string) string {
	return s.partition.ARN("iam", "", account, "role"+r.Path+name)
}

func (s *Service) roleXML(account, name string, r *Role) roleXML {
	return roleXML{
		Path: r.Path, RoleName: name, RoleId: RoleID(account, name), Arn: s.roleARN(account, r, name),
		CreateDate: iso(r.Created), AssumeRolePolicyDocument: encodeDocument(documentText(r.texts, trustKey, r.TrustPolicy)),
		Description: r.Description, MaxSessionDuration: r.MaxSessionDuration,
	}
}

// trustKey is where a role keeps the text of its trust policy.
const trustKey = "\x00trust"

// roleName validates the RoleName parameter.
func roleName(c *awsproto.Call, v *awsproto.Validation) string {
	name := c.Form.Get("RoleName")
	if !c.Form.Has("RoleName") {
		v.Null("roleName")
	} else if !roleNamePattern.MatchString(name) {
		v.Add(name, "roleName", `satisfy regular expression pattern: [\w+=,.@-]+`)
	}
	return name
}

// lookupRole finds a role of the caller's account, authorizing action on it.
func (s *Service) lookupRole(c *awsproto.Call, name string) (*Role, *awsproto.Error) {
	r := s.dir.Role(c.Caller.Account, name)
	resource := s.partition.ARN("iam", "", c.Caller.Account, "role/"+name)
	if r != nil {
		resource = s.roleARN(c.Caller.Account, r, name)
	}
	if apiErr := s.authorize(c, resource); apiErr != nil {
		return nil, apiErr
	}
	if r == nil {
		return nil, noSuchEntity("The role with name %s cannot be found.", name)
	}
	return r, nil
}

// namedRole validates the RoleName parameter and finds the role,
// authorizing the call on it.
func (s *Service) namedRole(c *awsproto.Call) (string, *Role, *awsproto.Error) {
	var v awsproto.Validation
	name := roleName(c, &v)
	if apiErr := v.Err(); apiErr != nil {
		return "", nil, apiErr
	}
	r, apiErr := s.lookupRole(c, name)
	return name, r, apiErr
}

// maxSession reads MaxSessionDuration, 3600 to 43200.
func maxSession(c *awsproto.Call, v *awsproto.Validation) (int, bool) {
	raw := c.Form.Get("MaxSessionDuration")
	if raw == "" {
		return 0, false
	}
	n, err := strconv.Atoi(raw)
	switch {
	case err != nil:
		v.Add(raw, "maxSessionDuration", "be a number")
	case n < 3600:
		v.Add(raw, "maxSessionDuration", "have value greater than or equal to 3600")
	case n > 43200:
		v.Add(raw, "maxSessionDuration", "have value less than or equal to 43200")
	}
	return n, true
}

func (s *Service) createRole(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	name := roleName(c, &v)
	path := c.Form.Get("Path")
	if path == "" {
		path = "/"
	} else if !pathPattern.MatchString(path) || len(path) > 512 {
		v.Add(path, "path", `satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`)
	}
	trustText := c.Form.Get("AssumeRolePolicyDocument")
	if !c.Form.Has("AssumeRolePolicyDocument") {
		v.Null("assumeRolePolicyDocument")
	}
	description := c.Form.Get("Description")
	v.Length(description, "description", 0, 1000)
	session, _ := maxSession(c, &v)
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	if session == 0 {
		session = 3600
	}
	role := &Role{Path: path, Description: description, MaxSessionDuration: session, Created: s.now()}
	if apiErr := s.authorize(c, s.roleARN(c.Caller.Account, role, name)); apiErr != nil {
		return nil, apiErr
	}
	trust, apiErr := s.parseTrust(c.Caller.Account, trustText)
	if apiErr != nil {
		return nil, apiErr
	}
	role.TrustPolicy, role.texts = trust, map[string]string{trustKey: trustText}
	s.dir.update(c.Caller.Account, func(a *Account) {
		if a.Roles[name] != nil {
			apiErr = alreadyExists("Role with name %s already exists.", name)
			return
		}
		a.Roles[name] = role
	})
	if apiErr != nil {
		return nil, apiErr
	}
	return struct {
		XMLName xml.Name `xml:"CreateRoleResult"`
		Role    roleXML
	}{Role: s.roleXML(c.Caller.Account, name, role)}, nil
}

func (s *Service) getRole(c *awsproto.Call) (any, *awsproto.Error) {
	name, r, apiErr := s.namedRole(c)
	if apiErr != nil {
		return nil, apiErr
	}
	return struct {
		XMLName xml.Name `xml:"GetRoleResult"`
		Role    roleXML
	}{Role: s.roleXML(c.Caller.Account, name, r)}, nil
}

// changeRole replaces a role with a changed copy, so that readers holding
// the old one are not disturbed.
func (s *Service) changeRole(c *awsproto.Call, name string, change func(r *Role)) *awsproto.Error {
	apiErr := noSuchEntity("The role with name %s cannot be found.", name)
	s.dir.update(c.Caller.Account, func(a *Account) {
		old := a.Roles[name]
		if old == nil {
			return
		}
		r := *old
		r.Policies = maps.Clone(old.Policies)
		r.texts = maps.Clone(old.texts)
		if r.texts == nil {
			r.texts = map[string]string{}
		}
		change(&r)
		a.Roles[name] = &r
		apiErr = nil
	})
	return apiErr
}

func (s *Service) updateAssumeRolePolicy(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	name := roleName(c, &v)
	text := c.Form.Get("PolicyDocument")
	if !c.Form.Has("PolicyDocument") {
		v.Null("policyDocument")
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	if _, apiErr := s.lookupRole(c, name); apiErr != nil {
		return nil, apiErr
	}
	trust, apiErr := s.parseTrust(c.Caller.Account, text)
	if apiErr != nil {
		return nil, apiErr
	}
	return nil, s.changeRole(c, name, func(r *Role) {
		r.TrustPolicy = trust
		r.texts[trustKey] = text
	})
}

func (s *Service) updateRole(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	name := roleName(c, &v)
	session, setSession := maxSession(c, &v)
	description, setDescription := c.Form.Get("Description"), c.Form.Has("Description")
	v.Length(description, "description", 0, 1000)
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	if _, apiErr := s.lookupRole(c, name); apiErr != nil {
		return nil, apiErr
	}
	if apiErr := s.changeRole(c, name, func(r *Role) {
		if setSession {
			r.MaxSessionDuration = session
		}
		if setDescription {
			r.Description = description
		}
	}); apiErr != nil {
		return nil, apiErr
	}
	return struct {
		XMLName xml.Name `xml:"UpdateRoleResult"`
	}{}, nil
}

// maxInlinePolicyBytes is IAM's quota on a role's inline policies, counted
// without whitespace.
const maxInlinePolicyBytes = 10240

func policyName(c *awsproto.Call, v *awsproto.Validation) string {
	name := c.Form.Get("PolicyName")
	if !c.Form.Has("PolicyName") {
		v.Null("policyName")
	} else if !roleNamePattern.MatchString(name) || len(name) > 128 {
		v.Add(name, "policyName", `satisfy regular expression pattern: [\w+=,.@-]+`)
	}
	return name
}

func (s *Service) putRolePolicy(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	name, pname := roleName(c, &v), policyName(c, &v)
	text := c.Form.Get("PolicyDocument")
	if !c.Form.Has("PolicyDocument") {
		v.Null("policyDocument")
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	r, apiErr := s.lookupRole(c, name)
	if apiErr != nil {
		return nil, apiErr
	}
	doc, apiErr := parseIdentityPolicy(text)
	if apiErr != nil {
		return nil, apiErr
	}
	size := len(withoutSpace(text))
	for n, d := range r.InlinePolicies() {
		if n != pname {
			size += len(withoutSpace(documentText(r.texts, n, d)))
		}
	}
	if size > maxInlinePolicyBytes {
		return nil, limitExceeded("Maximum policy size of %d bytes exceeded for role %s", maxInlinePolicyBytes, name)
	}
	return nil, s.changeRole(c, name, func(r *Role) {
		if pname == PermissionsPolicyName {
			r.Permissions = doc
		} else {
			if r.Policies == nil {
				r.Policies = map[string]PolicyDocument{}
			}
			r.Policies[pname] = doc
		}
		r.texts[pname] = text
	})
}

func withoutSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

func (s *Service) getRolePolicy(c *awsproto.Call) (any, *awsproto.Error) {
	var v awsproto.Validation
	name, pname := roleName(c, &v), policyName(c, &v)
	if apiErr := v.Err(); apiErr != nil {
		return nil, apiErr
	}
	r, apiErr := s.lookupRole(c, name)
	if apiErr != nil {
		return nil, apiErr
	}
	doc, ok := r.InlinePolicies()[pname]
	if !ok {
		return nil, noSuchEntity("The role policy with name %s cannot be found.", pname)
	}
	return struct {
		XMLName        xml.Name `xml:"GetRolePolicyResult"`
		RoleName       string
		PolicyName     string
		PolicyDocument string
	}{RoleName: name, PolicyName: pname, PolicyDocument: encodeDocument(documentText(r.texts, pname, doc))}, nil
}

func (s *Service) listRolePolicies(c *awsproto.Call) (any, *awsproto.Error) {
	_, r, apiErr := s.namedRole(c)
	if apiErr != nil {
		return nil, apiErr
	}
	names := slices.Sorted(maps.Keys(r.InlinePolicies()))
	return struct {
		XMLName     xml.Name `xml:"ListRolePoliciesResult"`
		PolicyNames memberList
		IsTruncated bool
	}{PolicyNames: memberList{names}}, nil
}

type attachedPolicy struct {
	PolicyName string
	PolicyArn  string
}

func (s *Service) listAttachedRolePolicies(c *awsproto.Call) (any, *awsproto.Error) {
	_, r, apiErr := s.namedRole(c)
	if apiErr != nil {
		return nil, apiErr
	}
	var list struct {
		Member []attachedPolicy `xml:"member"`
	}
	for _, arn := range r.AttachedPolicies {
		pname, _, _ := s.dir.ManagedPolicy(c.Caller.Account, arn)
		list.Member = append(list.Member, attachedPolicy{PolicyName: pname, PolicyArn: arn})
	}
	return struct {
		XMLName          xml.Name `xml:"ListAttachedRolePoliciesResult"`
		AttachedPolicies struct {
			Member []attachedPolicy `xml:"member"`
		}
		IsTruncated bool
	}{AttachedPolicies: list}, nil
}

// managed finds the managed policy of the PolicyArn parameter.
func (s *Service) managed(c *awsproto.Call) (arn, name string, p ManagedPolicy, apiErr *awsproto.Error) {
	arn = c.Form.Get("PolicyArn")
	var v awsproto.Validation
	if !c.Form.Has("PolicyArn") {
		v.Null("policyArn")
	} else {
		v.Length(arn, "policyArn", 20, 2048)
	}
	if apiErr := v.Err(); apiErr != nil {
		return "", "", p, apiErr
	}
	if apiErr := s.authorize(c, arn); apiErr != nil {
		return "", "", p, apiErr
	}
	name, p, ok := s.dir.ManagedPolicy(c.Caller.Account, arn)
	if !ok {
		return "", "", p, noSuchEntity("Policy %s does not exist or is not attachable.", arn)
	}
	return arn, name, p, nil
}

// attachments counts the caller's account's roles a managed policy is
// attached to.
func (s *Service) attachments(account, arn string) int {
	n := 0
	s.dir.read(account, func(a *Account) {
		if a == nil {
			return
		}
		for _, r := range a.Roles {
			if slices.Contains(r.AttachedPolicies, arn) {
				n++
			}
		}
	})
	return n
}

func (s *Service) getPolicy(c *awsproto.Call) (any, *awsproto.Error) {
	arn, name, p, apiErr := s.managed(c)
	if apiErr != nil {
		return nil, apiErr
	}
	path := p.Path
	if path == "" {
		path = "/"
	}
	type policyXML struct {
		PolicyName                    string
		PolicyId                      string
		Arn                           string
		Path                          string
		DefaultVersionId              string
		AttachmentCount               int
		PermissionsBoundaryUsageCount int
		IsAttachable                  bool
		CreateDate                    string
		UpdateDate                    string
	}
	created := iso(s.dir.created)
	return struct {
		XMLName xml.Name `xml:"GetPolicyResult"`
		Policy  policyXML
	}{Policy: policyXML{
		PolicyName: name, PolicyId: PolicyID(arn), Arn: arn, Path: path, DefaultVersionId: "v1",
		AttachmentCount: s.attachments(c.Caller.Account, arn), IsAttachable: true, CreateDate: created, UpdateDate: created,
	}}, nil
}

func (s *Service) getPolicyVersion(c *awsproto.Call) (any, *awsproto.Error) {
	arn, _, p, apiErr := s.managed(c)
	if apiErr != nil {
		return nil, apiErr
	}
	version := c.Form.Get("VersionId")
	if version != "v1" {
		return nil, noSuchEntity("Policy %s version %s does not exist or is not attachable.", arn, version)
	}
	type versionXML struct {
		Document         string
		VersionId        string
		IsDefaultVersion bool
		CreateDate       string
	}
	return struct {
		XMLName       xml.Name `xml:"GetPolicyVersionResult"`
		PolicyVersion versionXML
	}{PolicyVersion: versionXML{Document: encodeDocument(p.Document.JSON()), VersionId: "v1", IsDefaultVersion: true, CreateDate: iso(s.dir.created)}}, nil
}
