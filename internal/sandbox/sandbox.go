// Package sandbox runs faithful local stand-ins for GitHub's OIDC token
// service, AWS STS, Amazon ECR (its API and a registry front), Amazon ECS
// and AWS CodeDeploy,
// so that the real AWS SDK, the AWS CLI and registry clients can be tested
// against them over the real wire protocols. It is the composition root:
// the world, start-up, the environment a job sees, and faults; each service
// lives in a package of its own.
package sandbox

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/codedeploy"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecr"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/faults"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ghtoken"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/iam"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/logs"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/randid"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/sts"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/tlsca"
)

// Options tune a sandbox beyond its world.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// RegistryBackend is the base URL of an external OCI registry (e.g.
	// http://127.0.0.1:5000) that the ECR registry front forwards to. When
	// empty an in-process registry is used.
	RegistryBackend string
	// RegistryAddress is where the ECR registry hosts are served over TLS
	// (host:port, a loopback IP); 127.0.0.1 on a free port when empty. On
	// port 443, a client that maps the hosts' names to the address (docker
	// run --add-host, a hosts file) and trusts CACertificate reaches them
	// by URL as it reaches ECR.
	RegistryAddress string
	// Logf, when set, receives one line per request the sandbox serves.
	Logf func(format string, args ...any)
}

// Sandbox is a running set of stand-in services. Its addresses are on
// loopback; Close stops them.
type Sandbox struct {
	world     *World
	partition partition.Partition // the world's region's
	now       func() time.Time

	faults     *faults.Set
	sessions   *iam.Sessions
	authorizer *iam.Authorizer
	aws        *awsproto.Endpoint
	github     *ghtoken.Service
	ecr        *ecr.Service
	ca         *tlsca.Authority

	awsURL, githubURL string
	// registryAddress is the TLS listener every ECR registry host is
	// served on; proxyURL the proxy to them.
	registryAddress, proxyURL string

	servers  []*http.Server
	closers  []func()
	closeMux sync.Once
}

// secretKeeper is a service that hands out secrets.
type secretKeeper interface{ Secrets() []string }

// imageTemplate is how a world's task definition names the registry host
// of an account's ECR front.
var imageTemplate = regexp.MustCompile(`\{\{ecr:(\d{12})\}\}`)

// Start starts every service of the sandbox on loopback ports.
func Start(ctx context.Context, world *World, opts Options) (*Sandbox, error) {
	if world == nil {
		return nil, errors.New("sandbox: no world")
	}
	if err := world.normalize(); err != nil {
		return nil, err
	}
	// normalize has checked that the region is in a partition.
	p, _ := partition.ForRegion(world.Region)
	s := &Sandbox{world: world, partition: p, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.start(ctx, opts); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// start wires the services together and serves them. On an error, Close
// releases what was started.
func (s *Sandbox) start(ctx context.Context, opts Options) error {
	w := s.world
	s.faults = faults.NewSet(w.Faults)
	s.sessions = iam.NewSessions(s.now, time.Duration(w.CredentialLifetimeSeconds)*time.Second)

	githubListener, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.githubURL = "http://" + githubListener.Addr().String()
	if s.github, err = ghtoken.New(ghtoken.Config{Run: w.GitHub, BaseURL: s.githubURL, Now: s.now, Faults: s.faults, Logf: opts.Logf}); err != nil {
		return fmt.Errorf("sandbox github: %w", err)
	}

	iamAccounts := map[string]iam.Account{}
	repositories := map[string]map[string]*ecr.Repository{}
	ecrSettings := map[string]ecr.AccountSettings{}
	for id, a := range w.Accounts {
		iamAccounts[id] = iam.Account{OIDCProviders: a.OIDCProviders, Roles: a.Roles, ManagedPolicies: a.ManagedPolicies, Administrator: *a.Administrator}
		repositories[id] = a.Repositories
		ecrSettings[id] = a.ECRAccountSettings
		s.sessions.AddUser(id, *a.Administrator, s.partition)
	}
	roles := iam.NewDirectory(iamAccounts, s.now())
	authorizer := iam.NewAuthorizer(roles, w.Region)
	s.authorizer = authorizer

	backend, namespace, err := s.registryBackend(ctx, opts.RegistryBackend)
	if err != nil {
		return fmt.Errorf("sandbox ecr: %w", err)
	}
	plain := map[string]net.Listener{}
	plainHosts := map[string]string{}
	for id := range w.Accounts {
		l, err := s.listen(ctx)
		if err != nil {
			return err
		}
		plain[id], plainHosts[id] = l, l.Addr().String()
	}
	s.ecr = ecr.New(ecr.Config{
		Region: w.Region, Partition: s.partition, Repositories: repositories, AccountSettings: ecrSettings,
		PlainHosts: plainHosts, Backend: backend, Namespace: namespace,
		Now: s.now, Authorizer: authorizer, Faults: s.faults, Logf: opts.Logf,
	})
	s.closers = append(s.closers, s.ecr.Close)
	registryListener, err := s.listenTLS(ctx, opts.RegistryAddress)
	if err != nil {
		return err
	}

	logGroups := map[string]map[string]*logs.LogGroup{}
	for id, a := range w.Accounts {
		logGroups[id] = a.LogGroups
	}
	logsService := logs.New(logs.Config{Region: w.Region, Partition: s.partition, LogGroups: logGroups, Authorizer: authorizer})

	ecsAccounts := map[string]ecs.Account{}
	for id, a := range w.Accounts {
		defs := make([]json.RawMessage, len(a.TaskDefinitions))
		for i, raw := range a.TaskDefinitions {
			defs[i] = imageTemplate.ReplaceAllFunc(raw, func(m []byte) []byte {
				return []byte(s.ecr.RegistryHost(string(imageTemplate.FindSubmatch(m)[1])))
			})
		}
		ecsAccounts[id] = ecs.Account{Clusters: a.Clusters, TaskDefinitions: defs, Commands: a.Commands}
	}
	ecsService, err := ecs.New(ctx, ecs.Config{
		Region: w.Region, Partition: s.partition, Settings: w.ECS, Accounts: ecsAccounts, Now: s.now,
		Authorizer: authorizer, Registry: s.ecr, Faults: s.faults, Logs: logsService,
	})
	if err != nil {
		return fmt.Errorf("sandbox ecs: %w", err)
	}
	s.closers = append(s.closers, ecsService.Close)

	codeDeployAccounts := map[string]codedeploy.Account{}
	for id, a := range w.Accounts {
		codeDeployAccounts[id] = codedeploy.Account{Applications: a.CodeDeployApplications}
	}
	stage, minute := w.ECS.LifecycleTiming()
	codeDeploy, err := codedeploy.New(codedeploy.Config{
		Region: w.Region, Partition: s.partition, Accounts: codeDeployAccounts, Now: s.now,
		Authorizer: authorizer, ECS: codeDeployECS{ecsService}, Faults: s.faults, Stage: stage, Minute: minute,
	})
	if err != nil {
		return fmt.Errorf("sandbox codedeploy: %w", err)
	}
	s.closers = append(s.closers, codeDeploy.Close)

	awsListener, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.awsURL = "http://" + awsListener.Addr().String()
	s.aws = awsproto.NewEndpoint(awsproto.EndpointConfig{
		Credentials: s.sessions, Region: w.Region, Now: s.now, Faults: s.faults, Logf: opts.Logf,
	})
	s.aws.Register(sts.New(sts.Config{
		Roles: roles, Sessions: s.sessions, Authorizer: authorizer, Partition: s.partition, Now: s.now,
		DiscoveryURL: s.discoveryURL, Logf: opts.Logf,
	}))
	s.aws.Register(s.ecr)
	s.aws.Register(ecsService)
	s.aws.Register(iam.NewService(roles, authorizer, s.partition, s.now))
	s.aws.Register(logsService)
	s.aws.Register(codeDeploy)

	s.serve(awsListener, s.aws)
	s.serve(githubListener, s.github)
	s.serve(registryListener, s.ecr.Registry())
	proxyListener, err := s.listen(ctx)
	if err != nil {
		return err
	}
	s.proxyURL = "http://" + proxyListener.Addr().String()
	proxy := &registryProxy{to: s.registryRoute}
	s.closers = append(s.closers, proxy.Close)
	s.serve(proxyListener, proxy)
	for id, l := range plain {
		s.serve(l, s.ecr.Front(id))
	}
	return nil
}

// listenTLS makes the sandbox's CA and the certificate of its ECR
// registry hosts, and opens the TLS listener they are served on: address,
// which must be a loopback IP, or 127.0.0.1 on a free port.
func (s *Sandbox) listenTLS(ctx context.Context, address string) (net.Listener, error) {
	if address == "" {
		address = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(address)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("sandbox registry address %q: want a loopback IP and a port, such as 127.0.0.1:0 or 127.0.0.2:443", address)
	}
	if s.ca, err = tlsca.New(s.ecr.RegistryHosts()); err != nil {
		return nil, fmt.Errorf("sandbox ecr: %w", err)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", address)
	if err != nil {
		return nil, fmt.Errorf("sandbox listen for the ECR registry hosts: %w", err)
	}
	s.closers = append(s.closers, func() { _ = l.Close() }) // as in listen
	s.registryAddress = l.Addr().String()
	return tls.NewListener(l, s.ca.ServerConfig()), nil
}

// registryBackend is the registry the ECR fronts forward to: the external
// one at rawURL, under a namespace of this sandbox's own so that sandboxes
// sharing it never see each other's images, or an in-process one.
func (s *Sandbox) registryBackend(ctx context.Context, rawURL string) (*url.URL, string, error) {
	if rawURL != "" {
		u, err := url.Parse(strings.TrimRight(rawURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, "", fmt.Errorf("registry backend %q: want a URL such as http://127.0.0.1:5000", rawURL)
		}
		return u, "sandbox-" + strings.ToLower(randid.Upper(10)) + "/", nil
	}
	// The in-process registry serves the demo: blobs in memory, held per
	// repository as a real registry holds them.
	l, err := s.listen(ctx)
	if err != nil {
		return nil, "", err
	}
	s.serve(l, ecr.NewMemoryRegistry())
	return &url.URL{Scheme: "http", Host: l.Addr().String()}, "", nil
}

// discoveryURL is where STS reads an issuer's discovery document: the
// world's GitHub issuer is served by the sandbox's own token service; any
// other issuer by itself.
func (s *Sandbox) discoveryURL(issuer string) string {
	if issuer == s.world.GitHub.Issuer {
		return s.githubURL
	}
	return issuer
}

// listen opens a loopback listener that Close closes.
func (s *Sandbox) listen(ctx context.Context) (net.Listener, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox listen on loopback: %w", err)
	}
	// A listener served is closed by its server first, and closing it
	// again says only that; one never served is closed here.
	s.closers = append(s.closers, func() { _ = l.Close() })
	return l, nil
}

// serve serves h on l until Close. What the server itself would log (a
// client that hung up during a TLS handshake as the sandbox closed) is
// not the sandbox's to print.
func (s *Sandbox) serve(l net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	s.servers = append(s.servers, srv)
	// Serve returns http.ErrServerClosed at Close; a listener that fails
	// before ends the service, which its clients then see.
	go func() { _ = srv.Serve(l) }()
}

// Close stops every service: an error is a listener that did not close.
func (s *Sandbox) Close() error {
	var errs []error
	s.closeMux.Do(func() {
		for _, srv := range s.servers {
			errs = append(errs, srv.Close())
		}
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
	return errors.Join(errs...)
}

// World is the world the sandbox serves. Callers must not change it while
// the sandbox runs.
func (s *Sandbox) World() *World { return s.world }

// AWSEndpoint is the URL to give the SDK as AWS_ENDPOINT_URL: STS, ECR,
// ECS and CloudWatch Logs all answer there, told apart by protocol as AWS's endpoints would be.
func (s *Sandbox) AWSEndpoint() string { return s.awsURL }

// GitHubURL is the base URL of the token service (its discovery document is
// at /.well-known/openid-configuration).
func (s *Sandbox) GitHubURL() string { return s.githubURL }

// Region is the AWS region the sandbox serves.
func (s *Sandbox) Region() string { return s.world.Region }

// InjectFault adds a fault; see Fault.
func (s *Sandbox) InjectFault(f Fault) { s.faults.Add(f) }

// IssuedCredentials is how many credentials STS has issued.
func (s *Sandbox) IssuedCredentials() int { return s.sessions.Issued() }

// TokenRequests is how many ID tokens the token endpoint has issued. Each
// credential refresh must fetch a new one, so tests compare it with
// IssuedCredentials.
func (s *Sandbox) TokenRequests() int { return s.github.Issued() }

// STSCalls is how many calls of an STS operation (AssumeRoleWithWebIdentity,
// AssumeRole, GetCallerIdentity) have reached the sandbox, failed ones
// included: tests use it to tell a client that fails fast from one that
// retries.
func (s *Sandbox) STSCalls(operation string) int { return s.Calls("sts", operation) }

// Calls is how many calls of an AWS operation of service (sts, ecr, ecs, logs)
// have reached the sandbox, failed and faulted ones included.
func (s *Sandbox) Calls(service, operation string) int { return s.aws.Calls(service, operation) }

// RegistryHost is the host of account's ECR registry, as repository URIs
// and ECR's proxyEndpoint name it: ACCOUNT.dkr.ecr.REGION.amazonaws.com
// (.amazonaws.com.cn in aws-cn); empty for an account not in the world.
// It is served over TLS at RegistryAddress: reach it with Transport, or
// with a client given the CA and a mapping of the name.
func (s *Sandbox) RegistryHost(account string) string { return s.ecr.RegistryHost(account) }

// RegistryHosts lists every ECR registry host name the sandbox serves
// (each account's, and its FIPS endpoint's where the partition has them),
// all at RegistryAddress.
func (s *Sandbox) RegistryHosts() []string { return s.ecr.RegistryHosts() }

// RegistryAddress is the loopback host:port where every ECR registry host
// is served over TLS.
func (s *Sandbox) RegistryAddress() string { return s.registryAddress }

// PlainRegistryHost is 127.0.0.1:PORT, the plain-HTTP loopback entrance to
// account's ECR registry front, for a client that can be given neither the
// CA nor a mapping of the host name: the Docker engine's docker push, which
// takes a loopback registry as insecure. ECR's API never names it; empty
// for an account not in the world.
func (s *Sandbox) PlainRegistryHost(account string) string { return s.ecr.PlainRegistryHost(account) }

// CACertificate is the sandbox's own CA certificate, PEM-encoded: made
// for this sandbox, it signed the certificate of the ECR registry hosts
// and may sign for no other name. Give it to clients as SSL_CERT_FILE (Go
// programs: crane, the action) or a certificate directory (skopeo
// --cert-dir, Docker's certs.d).
func (s *Sandbox) CACertificate() []byte { return s.ca.CertificatePEM() }

// Transport returns a copy of base (a new transport when nil) that
// reaches the sandbox as a client in AWS reaches AWS: its dialer takes
// the sandbox's ECR registry host names on port 443, and only them, to
// RegistryAddress, dials loopback addresses as they are, and refuses any
// other name, so that nothing is looked up in DNS; its TLS configuration
// trusts the sandbox's CA alone. base's dialer makes every connection and
// its timeouts hold; no proxy is used.
func (s *Sandbox) Transport(base *http.Transport) *http.Transport {
	var tr *http.Transport
	if base != nil {
		tr = base.Clone()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.Proxy = nil
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		to, err := s.route(addr)
		if err != nil {
			return nil, err
		}
		return dial(ctx, network, to)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.RootCAs = s.ca.Pool()
	return tr
}

// route is where Transport's dialer connects for addr.
func (s *Sandbox) route(addr string) (string, error) {
	if to, ok := s.registryRoute(addr); ok {
		return to, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return addr, nil
	}
	return "", fmt.Errorf("dial %s: the sandbox serves no such host (it maps its ECR registry hosts on port 443 and dials loopback addresses; it looks up no name)", addr)
}

// RegistryProxyURL is the URL of the sandbox's HTTPS proxy
// (http://127.0.0.1:PORT), which tunnels to its ECR registry hosts on port
// 443 and to nothing else: HTTPS_PROXY, with the CA as SSL_CERT_FILE, for
// a client that can be given neither a dialer nor a host mapping (skopeo,
// crane, the action's binary), so that it reaches them by name over TLS.
// Go's clients never proxy loopback, so the AWS endpoint and the token
// service are reached directly all the same.
func (s *Sandbox) RegistryProxyURL() string { return s.proxyURL }

// BackendRepository is where the registry backend keeps an account's
// repository, as host/path: what an independent client reads to check what
// a push through the ECR front really stored.
func (s *Sandbox) BackendRepository(account, name string) string {
	return s.ecr.BackendRepository(account, name)
}

// RegistryUploads is what pushes through account's ECR front have sent to
// its repository name so far: the blob bytes uploaded, the uploads
// completed and the blobs mounted from other repositories.
func (s *Sandbox) RegistryUploads(account, name string) RegistryUploads {
	return s.ecr.Uploads(account, name)
}

// RoleCredentials issues credentials of a session of a role as STS would,
// without asking its trust policy, for tests of what a role's permissions
// allow.
func (s *Sandbox) RoleCredentials(account, role, sessionName string) aws.Credentials {
	path := ""
	if a := s.world.Accounts[account]; a != nil && a.Roles[role] != nil {
		path = a.Roles[role].Path
	}
	sess := s.sessions.Issue(awsproto.Session{
		Account: account, RoleName: role, RolePath: path, RoleID: iam.RoleID(account, role), SessionName: sessionName,
		Partition: s.partition,
	}, time.Hour)
	return aws.Credentials{AccessKeyID: sess.AccessKeyID, SecretAccessKey: sess.SecretAccessKey, SessionToken: sess.SessionToken, Source: "sandbox"}
}

// Decision is one authorization decision the sandbox made: who asked to
// do what on what, with which condition keys, and which statement of which
// policy allowed or denied it.
type Decision = iam.Authorization

// Decisions lists every authorization decision made so far, in order:
// identity policies deciding each call, and trust policies deciding who
// may assume a role.
func (s *Sandbox) Decisions() []Decision { return s.authorizer.Decisions() }

// Administrator is account's administrator user and its access key, with
// which setup and doctor sign; ok is false for an account not in the world.
func (s *Sandbox) Administrator(account string) (admin Administrator, ok bool) {
	a := s.world.Accounts[account]
	if a == nil {
		return Administrator{}, false
	}
	return *a.Administrator, true
}

// AdministratorEnv is the environment the AWS SDK and CLI need to call the
// sandbox as account's administrator: its access key, region and endpoint.
func (s *Sandbox) AdministratorEnv(account string) (map[string]string, bool) {
	a, ok := s.Administrator(account)
	if !ok {
		return nil, false
	}
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     a.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": a.SecretAccessKey,
		"AWS_REGION":            s.world.Region,
		"AWS_DEFAULT_REGION":    s.world.Region,
		"AWS_ENDPOINT_URL":      s.AWSEndpoint(),
	}, true
}

// Secrets lists every secret the sandbox has handed out so far (ID tokens,
// secret keys, session tokens, registry passwords), for tests that prove none
// of them reached a log.
func (s *Sandbox) Secrets() []string {
	var out []string
	for _, k := range []secretKeeper{s.sessions, s.github, s.ecr} {
		out = append(out, k.Secrets()...)
	}
	return out
}

// Env is the environment a client needs to use the sandbox as a GitHub
// Actions job would: the token request variables, the AWS endpoint and
// region, and the run's GITHUB_* variables.
func (s *Sandbox) Env() map[string]string {
	c := s.world.GitHub.Claims
	env := map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   s.github.RequestURL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": s.github.RequestToken(),
		"AWS_ENDPOINT_URL":               s.AWSEndpoint(),
		"AWS_REGION":                     s.world.Region,
		"GITHUB_REPOSITORY":              c["repository"],
		"GITHUB_REPOSITORY_OWNER":        c["repository_owner"],
		"GITHUB_REF":                     c["ref"],
		"GITHUB_SHA":                     c["sha"],
		"GITHUB_RUN_ID":                  c["run_id"],
		"GITHUB_RUN_ATTEMPT":             c["run_attempt"],
		"GITHUB_ACTOR":                   c["actor"],
		"GITHUB_WORKFLOW":                c["workflow"],
		"GITHUB_EVENT_NAME":              c["event_name"],
	}
	for k, v := range env {
		if v == "" {
			delete(env, k)
		}
	}
	return env
}
