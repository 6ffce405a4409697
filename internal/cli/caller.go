//go:build !action

package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/endpoint"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/httpclient"
)

// callerTimeout bounds the whole of setup's and doctor's AWS work: a
// handful of IAM calls that each take well under a second.
const callerTimeout = 2 * time.Minute

// caller is the person (or pipeline) running setup or doctor, with their
// own AWS credentials.
type caller struct {
	cfg     aws.Config
	account string
	arn     string
}

// loadCaller loads the caller's own credentials through the SDK's default
// chain (environment, shared config and credentials files with their
// profiles, SSO, container and instance roles), reading the environment
// through getenv, and asks STS whose they are. noCredentials is set when
// the chain found none, as opposed to credentials STS refused.
func loadCaller(ctx context.Context, getenv func(string) string, region string) (c caller, noCredentials bool, err error) {
	endpoints, err := endpoint.ReadAWS(getenv)
	if err != nil {
		return c, false, err
	}
	// The SDK's buildable client, so that a CA bundle of the caller's
	// configuration (AWS_CA_BUNDLE, ca_bundle) still applies, with the
	// run's timeouts on every stage of a request.
	t := httpclient.Timeouts{}.WithDefaults()
	client := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = t.Dial }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = t.TLSHandshake
			tr.ResponseHeaderTimeout = t.ResponseHeader
		})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(region),
		awsconfig.WithHTTPClient(client),
	}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))))
	}
	if p := getenv("AWS_PROFILE"); p != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(p))
	}
	if f := getenv("AWS_CONFIG_FILE"); f != "" {
		opts = append(opts, awsconfig.WithSharedConfigFiles([]string{f}))
	}
	if f := getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles([]string{f}))
	}
	if strings.EqualFold(getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		opts = append(opts, awsconfig.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return c, false, fmt.Errorf("load your AWS configuration: %w", err)
	}
	endpoints.Apply(&cfg)
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return c, true, fmt.Errorf("no AWS credentials: the SDK's default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE and the shared config files, SSO, a container or instance role) found none: %w", err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return c, false, fmt.Errorf("ask STS whose AWS credentials these are: %w", err)
	}
	return caller{cfg: cfg, account: aws.ToString(id.Account), arn: aws.ToString(id.Arn)}, false, nil
}
