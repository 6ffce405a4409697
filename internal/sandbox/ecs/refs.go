package ecs

import (
	"strings"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/sim"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/ecs/taskdef"
)

// resourceRef is a resource parameter of an ECS call (a cluster, service,
// task definition, task or service deployment), read whole: a name of the
// caller's account, or an ARN whose partition, region, account, service and
// resource type are each checked, as ECS checks them.
type resourceRef struct {
	// name is what follows the resource type: NAME for a cluster,
	// [CLUSTER/]NAME for a service, FAMILY[:REVISION] for a task
	// definition, [CLUSTER/]ID for a task, CLUSTER/SERVICE/ID for a
	// service deployment.
	name string
	// arn is the resource's ARN, which IAM decides on: the one given, or,
	// for a name, the one it has in the caller's account.
	arn string
	// prefix is arn:PARTITION:SERVICE:REGION:ACCOUNT: of arn.
	prefix string
	// isARN tells an ARN from a name.
	isARN bool
	// ours is set when the resource can be one of the caller's: of this
	// partition, of ECS, of the caller's account and of the kind asked
	// for. ECS has no cross-account resources: another account's ARN (or
	// another partition's) names nothing the caller can reach, whatever IAM
	// allows.
	ours bool
}

// readRef reads a parameter naming a resource of kind (cluster, service,
// task-definition, task, service-deployment). An ARN that is not an ARN is
// a ClientException with the ARN parser's words (ECS's answer to an ARN of
// four colons, as mondoohq/mql#6370 quotes it); an ARN of another region
// is refused before anything else, as ECS refuses it: InvalidParameterException
// "Invalid Region in ARN" (aws/aws-cli#3175, aws/amazon-ecs-cli#821).
func (e *Service) readRef(a *account, param, kind string) (resourceRef, *awsproto.Error) {
	if !strings.HasPrefix(param, "arn:") {
		prefix := e.arn(a.id, "")
		return resourceRef{name: param, arn: prefix + kind + "/" + param, prefix: prefix, ours: true}, nil
	}
	parts := strings.SplitN(param, ":", 6)
	if len(parts) < 6 {
		return resourceRef{}, taskdef.ClientError("com.amazon.arn.ARNSyntaxException: Fifth colon (namespace/relative-id delimiter) not found: %s", param)
	}
	partitionID, service, region, account, resource := parts[1], parts[2], parts[3], parts[4], parts[5]
	if region != e.cfg.Region {
		return resourceRef{}, taskdef.InvalidParameter("Invalid Region in ARN")
	}
	name, ofKind := strings.CutPrefix(resource, kind+"/")
	return resourceRef{
		name:   name,
		arn:    param,
		prefix: strings.Join(parts[:5], ":") + ":",
		isARN:  true,
		// An ARN in another partition is another world's (its region
		// cannot be this one): "You cannot use IAM credentials from one
		// partition to interact with resources in a different partition"
		// (AWS Fault Isolation Boundaries, quoted in aws/aws-sdk#648).
		ours: partitionID == e.cfg.Partition.ID && service == "ecs" && account == a.id && ofKind && name != "",
	}, nil
}

// clusterRef reads a cluster parameter; "default" when it is empty.
func (e *Service) clusterRef(a *account, param string) (resourceRef, *awsproto.Error) {
	if param == "" {
		param = "default"
	}
	return e.readRef(a, param, "cluster")
}

func clusterNotFound() *awsproto.Error {
	return awsproto.Errorf("ClusterNotFoundException", "Cluster not found.")
}

// clusterOf is the caller's cluster a reference names.
func (e *Service) clusterOf(a *account, cl resourceRef) (*sim.Cluster, *awsproto.Error) {
	if c := a.clusters[cl.name]; cl.ours && c != nil {
		return c, nil
	}
	return nil, clusterNotFound()
}

// inCluster reads a parameter naming a resource of kind that lives in a
// cluster (a service, a task), given the cluster parameter's reference. An
// ARN in the long form (kind/CLUSTER/NAME) must name that same cluster, or
// ECS refuses it: InvalidParameterException "Invalid identifier: Identifier
// is for cluster CLUSTER. Your cluster is ..." (aws/aws-toolkit-vscode#2915,
// docker/compose-cli#2086). The result names the resource alone, and its
// ARN is the long form.
func (e *Service) inCluster(a *account, cluster resourceRef, param, kind string) (resourceRef, *awsproto.Error) {
	r, apiErr := e.readRef(a, param, kind)
	if apiErr != nil {
		return resourceRef{}, apiErr
	}
	if !r.isARN {
		r.prefix, r.ours = cluster.prefix, cluster.ours
	} else if c, rest, long := strings.Cut(r.name, "/"); long {
		if c != cluster.name {
			return resourceRef{}, taskdef.InvalidParameter("Invalid identifier: Identifier is for cluster %s. Your cluster is %s", c, cluster.name)
		}
		r.name = rest
	}
	r.ours = r.ours && cluster.ours && r.prefix == cluster.prefix
	if r.ours || !r.isARN {
		r.arn = r.prefix + kind + "/" + cluster.name + "/" + r.name
	}
	return r, nil
}

// taskDefRef reads a task definition parameter (FAMILY, FAMILY:REVISION or
// an ARN) and the caller's revision it names; nil when it names none.
func (e *Service) taskDefRef(a *account, param string) (resourceRef, *taskdef.Revision, *awsproto.Error) {
	r, apiErr := e.readRef(a, param, "task-definition")
	if apiErr != nil || !r.ours {
		return r, nil, apiErr
	}
	td := e.lookupTaskDef(a, r.name)
	if td != nil {
		r.arn = td.ARN
	}
	return r, td, nil
}
