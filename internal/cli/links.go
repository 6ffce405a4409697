package cli

import (
	"net/url"
	"strings"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
)

// console builds the AWS Management Console pages of a run's resources,
// in one region of one partition (the console's host differs between
// aws, aws-cn and aws-us-gov), and the AWS CLI commands that show the same
// to someone without console access.
type console struct {
	region string
	// host is the console's host; empty when the partition's console has
	// no public address, and then there are commands but no pages.
	host string
}

func newConsole(region string) console {
	c := console{region: region}
	if p, ok := partition.ForRegion(region); ok {
		c.host, _ = p.ConsoleHost(region)
	}
	return c
}

// page is the console's URL for path (segments escaped by the caller),
// with the region in the query and an optional fragment (the single-page
// consoles route by it); empty without a console.
func (c console) page(path, fragment string) string {
	if c.host == "" {
		return ""
	}
	u := url.URL{Scheme: "https", Host: c.host, Path: path, RawQuery: url.Values{"region": {c.region}}.Encode()}
	s := u.String()
	if fragment != "" {
		s += "#" + fragment
	}
	return s
}

// clusterName is the cluster's name, also when given as its ARN.
func clusterName(cluster string) string {
	if i := strings.LastIndex(cluster, "cluster/"); i >= 0 {
		return cluster[i+len("cluster/"):]
	}
	if cluster == "" {
		return "default"
	}
	return cluster
}

// serviceDeployments is the service's Deployments tab: the deployment in
// progress, the last one and the history, each with its events.
func (c console) serviceDeployments(cluster, service string) string {
	return c.page("/ecs/v2/clusters/"+url.PathEscape(clusterName(cluster))+"/services/"+url.PathEscape(service)+"/deployments", "")
}

// taskDefinition is the page of a task definition revision, from its ARN
// (arn:PARTITION:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION).
func (c console) taskDefinition(arn string) string {
	_, familyRevision, ok := strings.Cut(arn, ":task-definition/")
	family, revision, ok2 := strings.Cut(familyRevision, ":")
	if !ok || !ok2 || family == "" || revision == "" {
		return ""
	}
	return c.page("/ecs/v2/task-definitions/"+url.PathEscape(family)+"/"+url.PathEscape(revision)+"/containers", "")
}

// image is the page of an image in an ECR repository, by digest. The
// repository URI's registry host names the account and region; a registry
// that is not an ECR host (a local stand-in) is taken to be account's in
// the run's region.
func (c console) image(repositoryURI, digest, account string) string {
	host, name, ok := strings.Cut(repositoryURI, "/")
	if !ok || name == "" || digest == "" {
		return ""
	}
	region := c.region
	if rh, ok := partition.ParseECRRegistryHost(host); ok {
		account, region = rh.Account, rh.Region
	}
	if account == "" {
		return ""
	}
	segments := strings.Split(name, "/")
	for i, seg := range segments {
		segments[i] = url.PathEscape(seg)
	}
	in := newConsole(region)
	return in.page("/ecr/repositories/private/"+url.PathEscape(account)+"/"+strings.Join(segments, "/")+"/_/image/"+url.PathEscape(digest)+"/details", "")
}

// cloudTrail is CloudTrail's event history filtered to a role session
// name: every call the run's credentials made in the region, and the
// AssumeRoleWithWebIdentity and AssumeRole calls that issued them.
func (c console) cloudTrail(session string) string {
	if session == "" {
		return ""
	}
	return c.page("/cloudtrailv2/home", "/events?"+url.Values{"Username": {session}}.Encode())
}

// lookupEventsCommand is the AWS CLI command that lists the same events
// as cloudTrail, from a little before the run started.
func (c console) lookupEventsCommand(session string, since time.Time) string {
	cmd := "aws cloudtrail lookup-events --region " + shellWord(c.region) +
		" --lookup-attributes AttributeKey=Username,AttributeValue=" + shellWord(session)
	if !since.IsZero() {
		cmd += " --start-time " + since.UTC().Add(-5*time.Minute).Format(time.RFC3339)
	}
	return cmd
}

// deploymentCommand is the AWS CLI command that shows a service's
// deployment: by its ServiceDeployment ARN when known, otherwise the
// service's deployments of late.
func (c console) deploymentCommand(cluster, service, serviceDeploymentARN string) string {
	if serviceDeploymentARN != "" {
		return "aws ecs describe-service-deployments --region " + shellWord(c.region) + " --service-deployment-arns " + shellWord(serviceDeploymentARN)
	}
	return "aws ecs list-service-deployments --region " + shellWord(c.region) + " --cluster " + shellWord(clusterName(cluster)) + " --service " + shellWord(service)
}

// shellWord quotes s for a POSIX shell when it holds anything but the
// characters of names and ARNs.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:/.@=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
