package policy

// Call is one reason the flow calls an AWS API action: the IAM action, the
// statement its grant goes into, what it does for the run and, for a call
// the run can do without, what the run does instead when it is denied. The
// flow's notices and denial messages, the generated policies and the
// README's table all read these.
type Call struct {
	// Action is the IAM action, e.g. ecr:BatchGetImage.
	Action string
	// Sid names the statement that grants it: why the action is there,
	// starting with Optional for a call the run can do without.
	Sid string
	// For says what the call does for the run.
	For string
	// Without, for a call the run can do without, says what the run does
	// when it is denied; empty for a call the run needs.
	Without string
	// Resource says, for the README's table, which resources the grant
	// names and why none narrower.
	Resource string
}

// Required reports whether the run fails without the call.
func (c Call) Required() bool { return c.Without == "" }

// Need is "required" or "optional", as the table and the doctor print it.
func (c Call) Need() string {
	if c.Required() {
		return "required"
	}
	return "optional"
}

// The calls of the flow, in the order a run makes them.
var (
	// CallECRLogin logs in to the registry.
	CallECRLogin = Call{
		Action:   "ecr:GetAuthorizationToken",
		Sid:      "LogInToTheRegistry",
		For:      "log in to the ECR registry; the password stays in memory",
		Resource: "`*`: ECR grants it on no narrower resource",
	}
	// CallECRFindRepository looks a repository named without its registry up.
	CallECRFindRepository = Call{
		Action: "ecr:DescribeRepositories",
		Sid:    "OptionalFindTheRepositoryByName",
		For:    "find a repository given by name alone, and whether its tags are immutable",
		Without: "the registry is taken from the login's endpoint, and a tag taken in an IMMUTABLE repository is found only when the push reaches it; " +
			"give the repository's full URI instead of its name and this call is not made",
		Resource: "the repository",
	}
	// CallECRReadTags reads what the tags point at before pushing.
	CallECRReadTags = Call{
		Action:   "ecr:BatchGetImage",
		Sid:      "OptionalReadTheTagsBeforePushing",
		For:      "read what the tags point at before pushing, so that an image already there is not sent again and a re-run on an IMMUTABLE repository succeeds",
		Without:  "the tags are written without being read first, so a re-run on an IMMUTABLE repository fails on the tag it already pushed",
		Resource: "the repository",
	}
	// CallECRReadSourceImage reads the image a docker:// image input names
	// in ECR.
	CallECRReadSourceImage = Call{
		Action:   "ecr:BatchGetImage",
		Sid:      "ReadTheSourceImage",
		For:      "read the manifest of the image a `docker://` image input names in ECR, and its tag again before any tag moves",
		Resource: "the source repository",
	}
	// CallECRReadSourceLayers reads, or mounts, the source image's blobs.
	CallECRReadSourceLayers = Call{
		Action:   "ecr:GetDownloadUrlForLayer",
		Sid:      "ReadTheSourceImage",
		For:      "read the source image's config and layers to copy them, or have ECR mount them into the repository (blob mounting needs it on the source)",
		Resource: "the source repository",
	}
	// CallECRCheckLayers asks which layers the repository has.
	CallECRCheckLayers = Call{
		Action:   "ecr:BatchCheckLayerAvailability",
		Sid:      "PushTheImage",
		For:      "skip the layers the repository already has",
		Resource: "the repository",
	}
	// CallECRStartUpload starts a layer upload.
	CallECRStartUpload = Call{
		Action:   "ecr:InitiateLayerUpload",
		Sid:      "PushTheImage",
		For:      "start uploading a layer",
		Resource: "the repository",
	}
	// CallECRUploadPart uploads a layer's bytes.
	CallECRUploadPart = Call{
		Action:   "ecr:UploadLayerPart",
		Sid:      "PushTheImage",
		For:      "upload a layer's bytes",
		Resource: "the repository",
	}
	// CallECRCompleteUpload finishes a layer upload.
	CallECRCompleteUpload = Call{
		Action:   "ecr:CompleteLayerUpload",
		Sid:      "PushTheImage",
		For:      "finish a layer's upload",
		Resource: "the repository",
	}
	// CallECRPutImage writes the manifest under each tag.
	CallECRPutImage = Call{
		Action:   "ecr:PutImage",
		Sid:      "PushTheImage",
		For:      "write the image's manifest under each tag",
		Resource: "the repository",
	}
	// CallECSReadServices reads the services.
	CallECSReadServices = Call{
		Action:   "ecs:DescribeServices",
		Sid:      "ReadAndUpdateTheServices",
		For:      "read each service: its task definition, deployments and events",
		Resource: "the services",
	}
	// CallECSReadClusterServices reads the services with keep-revisions,
	// which reads every service of the cluster: one grant on the cluster's
	// services covers both reads, and a grant on the deployed services
	// beside it would add nothing.
	CallECSReadClusterServices = Call{
		Action:   "ecs:DescribeServices",
		Sid:      "ReadTheServicesAndWhatTheClusterRuns",
		For:      "read each service (its task definition, deployments and events) and, for keep-revisions, which revisions every service of the cluster runs",
		Resource: "the cluster's services: keep-revisions reads them all",
	}
	// CallECSUpdateService starts the deployment.
	CallECSUpdateService = Call{
		Action:   "ecs:UpdateService",
		Sid:      "ReadAndUpdateTheServices",
		For:      "start the deployment",
		Resource: "the services",
	}
	// CallECSCopyTaskDefinition reads the revision the new one is based on.
	CallECSCopyTaskDefinition = Call{
		Action:   "ecs:DescribeTaskDefinition",
		Sid:      "CopyTheCurrentTaskDefinition",
		For:      "copy the service's current task definition as the base of the new revision",
		Resource: "`*`: ECS grants it on no narrower resource",
	}
	// CallECSCheckDeployedTag reads the task definition a forced
	// deployment restarts.
	CallECSCheckDeployedTag = Call{
		Action:   "ecs:DescribeTaskDefinition",
		Sid:      "OptionalCheckTheTaskDefinitionUsesThePushedTag",
		For:      "check that the task definition a forced deployment restarts uses a tag just pushed",
		Without:  "the check that a pushed tag is used cannot run: the deployment restarts whatever images the task definition names",
		Resource: "`*`: ECS grants it on no narrower resource",
	}
	// CallECSRegister registers the new revision.
	CallECSRegister = Call{
		Action:   "ecs:RegisterTaskDefinition",
		Sid:      "RegisterTheNewRevision",
		For:      "register the new revision, its image pinned by digest",
		Resource: "`*`: ECS grants it on no narrower resource",
	}
	// CallECSTagRevision copies the base revision's tags onto the new one.
	CallECSTagRevision = Call{
		Action:   "ecs:TagResource",
		Sid:      "OptionalKeepTheBaseRevisionTags",
		For:      "give the new revision the tags of its base, as it is registered",
		Without:  "the new revision is registered without the tags of its base",
		Resource: "`*`, and only as part of `RegisterTaskDefinition` (`ecs:CreateAction`)",
	}
	// CallPassRoles lets the new revision name its task and execution roles.
	CallPassRoles = Call{
		Action:   "iam:PassRole",
		Sid:      "PassTheTaskRolesToEcs",
		For:      "let the new revision name its task role and execution role",
		Resource: "those roles, and only to ECS tasks (`iam:PassedToService`)",
	}
	// CallECSWatchDeployment reads our service deployment while it rolls out.
	CallECSWatchDeployment = Call{
		Action:   "ecs:DescribeServiceDeployments",
		Sid:      "OptionalWatchOurServiceDeployment",
		For:      "watch the deployment through the ServiceDeployment API: its state, lifecycle stage, circuit breaker and rollback",
		Without:  "the rollout is watched in the service's deployments list instead, which shows no lifecycle stage and tells a rollback only by its effect",
		Resource: "the services' service deployments",
	}
	// CallECSListStoppedTasks finds a failed deployment's stopped tasks.
	CallECSListStoppedTasks = Call{
		Action:   "ecs:ListTasks",
		Sid:      "OptionalListTheStoppedTasks",
		For:      "find the stopped tasks of a deployment that fails",
		Without:  "a failed deployment is reported without its stopped tasks' reasons",
		Resource: "`*`, narrowed to the cluster by `ecs:cluster`",
	}
	// CallECSDescribeStoppedTasks reads why those tasks stopped.
	CallECSDescribeStoppedTasks = Call{
		Action:   "ecs:DescribeTasks",
		Sid:      "OptionalReadWhyTasksStopped",
		For:      "read why the tasks of a deployment that fails stopped",
		Without:  "a failed deployment is reported without its stopped tasks' reasons",
		Resource: "the cluster's tasks",
	}
	// CallECSReadOneOffTaskDefinition reads, in force-new-deployment mode,
	// the task definition the one-off task runs.
	CallECSReadOneOffTaskDefinition = Call{
		Action:   "ecs:DescribeTaskDefinition",
		Sid:      "OptionalReadTheOneOffTaskDefinition",
		For:      "read the task definition the one-off task runs (run-task with force-new-deployment): its containers and log configuration",
		Without:  "the one-off task's container must be named in run-task-container, and its log lines are not shown",
		Resource: "`*`: ECS grants it on no narrower resource",
	}
	// CallECSRunTask starts the one-off task.
	CallECSRunTask = Call{
		Action:   "ecs:RunTask",
		Sid:      "RunTheOneOffTask",
		For:      "run the one-off task (run-task) of the new revision before the services are updated",
		Resource: "the account's task definitions, in the cluster only (`ecs:cluster`): the new revision's number is not known before it is registered",
	}
	// CallECSFollowOneOffTask reads the one-off task until it stops.
	CallECSFollowOneOffTask = Call{
		Action:   "ecs:DescribeTasks",
		Sid:      "FollowTheOneOffTask",
		For:      "follow the one-off task until it stops, and read its containers' exit codes",
		Resource: "the cluster's tasks",
	}
	// CallECSStopOneOffTask stops a one-off task that outlasts the wait.
	CallECSStopOneOffTask = Call{
		Action:   "ecs:StopTask",
		Sid:      "OptionalStopTheOneOffTaskAtTheDeadline",
		For:      "stop the one-off task when it outlasts wait-for-minutes",
		Without:  "a one-off task still running at wait-for-minutes goes on running; the run fails all the same",
		Resource: "the cluster's tasks",
	}
	// CallLogsReadOneOffTask reads the one-off task's log lines.
	CallLogsReadOneOffTask = Call{
		Action:   "logs:GetLogEvents",
		Sid:      "OptionalReadTheOneOffTaskLogs",
		For:      "print the one-off task's log lines (awslogs) as it runs, and quote them when it fails",
		Without:  "the one-off task's log lines are not shown; its exit codes and ECS's stopped reason are",
		Resource: "the log groups the task logs to (`log-group:NAME:*`, which covers their streams)",
	}
	// CallECSListServicesInUse lists the cluster's services for keep-revisions.
	CallECSListServicesInUse = Call{
		Action:   "ecs:ListServices",
		Sid:      "OptionalKeepRevisionsFindWhatServicesRun",
		For:      "list the cluster's services, whose revisions keep-revisions never deregisters",
		Without:  "keep-revisions deregisters nothing: it cannot prove an old revision unused",
		Resource: "`*`, narrowed to the cluster by `ecs:cluster`",
	}
	// CallECSReadServicesInUse reads which revisions those services run.
	// The generated policy grants it with the services' own read, in one
	// statement (CallECSReadClusterServices); a policy written otherwise
	// may allow the deployed services alone.
	CallECSReadServicesInUse = Call{
		Action:   "ecs:DescribeServices",
		Sid:      CallECSReadClusterServices.Sid,
		For:      "read which revisions every deployment of every service of the cluster runs",
		Without:  "keep-revisions deregisters nothing: it cannot prove an old revision unused",
		Resource: "the cluster's services",
	}
	// CallECSListRevisions lists a family's ACTIVE revisions.
	CallECSListRevisions = Call{
		Action:   "ecs:ListTaskDefinitions",
		Sid:      "OptionalKeepRevisionsDeregisterOldOnes",
		For:      "list the deployed families' ACTIVE revisions, newest first",
		Without:  "keep-revisions deregisters nothing",
		Resource: "`*`: ECS grants it on no narrower resource",
	}
	// CallECSDeregisterRevisions deregisters the old, unused revisions.
	CallECSDeregisterRevisions = Call{
		Action:   "ecs:DeregisterTaskDefinition",
		Sid:      "OptionalKeepRevisionsDeregisterOldOnes",
		For:      "deregister the revisions older than the newest keep-revisions that nothing runs",
		Without:  "keep-revisions deregisters nothing",
		Resource: "`*`: ECS grants it on no narrower resource",
	}
	// CallAssumeNextRole assumes the next role of the role chain.
	CallAssumeNextRole = Call{
		Action:   "sts:AssumeRole",
		Sid:      "AssumeTheNextRoleOfTheChain",
		For:      "assume the next role of the role chain",
		Resource: "that role",
	}
)

// Calls lists every call, in the order a run makes them.
func Calls() []Call {
	return []Call{
		CallAssumeNextRole,
		CallECRLogin, CallECRFindRepository, CallECRReadTags, CallECRReadSourceImage, CallECRReadSourceLayers,
		CallECRCheckLayers, CallECRStartUpload, CallECRUploadPart, CallECRCompleteUpload, CallECRPutImage,
		CallECSReadServices, CallECSReadClusterServices, CallECSCopyTaskDefinition, CallECSCheckDeployedTag,
		CallECSReadOneOffTaskDefinition, CallECSRegister, CallECSTagRevision, CallPassRoles,
		CallECSRunTask, CallECSFollowOneOffTask, CallECSStopOneOffTask, CallLogsReadOneOffTask,
		CallECSUpdateService, CallECSWatchDeployment, CallECSListStoppedTasks, CallECSDescribeStoppedTasks,
		CallECSListServicesInUse, CallECSReadServicesInUse, CallECSListRevisions, CallECSDeregisterRevisions,
	}
}
