// Package logs stands in for Amazon CloudWatch Logs (awsJson1_1, target
// Logs_20140328): log groups from the world, the log streams ECS tasks'
// awslogs driver writes to, and GetLogEvents with its tokens, as a client
// that follows a running task's output reads them.
package logs

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/partition"
	"github.com/oidc-ecs-deploy/oidc-ecs-deploy/internal/sandbox/awsproto"
)

// target is the X-Amz-Target prefix of CloudWatch Logs' API.
const target = "Logs_20140328"

// maxEventsPerCall is GetLogEvents' largest page, and its default.
const maxEventsPerCall = 10000

// LogGroup is a CloudWatch Logs log group, as the world file describes it.
type LogGroup struct {
	// RetentionInDays is how long events are kept; 0 keeps them for ever.
	// The sandbox keeps every event; the value is reported only.
	RetentionInDays int `json:"retentionInDays,omitempty"`
}

// Authorizer decides whether a session may make a call.
type Authorizer interface {
	Authorize(caller *awsproto.Session, action, resource string, keys map[string]string) *awsproto.Error
}

// Config is what CloudWatch Logs needs.
type Config struct {
	// Region is the region log groups live in, Partition its partition.
	Region    string
	Partition partition.Partition
	// LogGroups are every account's log groups, by account then name.
	LogGroups  map[string]map[string]*LogGroup
	Authorizer Authorizer
}

// Service is the CloudWatch Logs stand-in. Streams are written by other
// stand-ins (ECS tasks) through CreateStream and Put, and read over the API.
type Service struct {
	cfg Config

	mu     sync.Mutex
	groups map[string]map[string]*group // by account, then name
}

var _ awsproto.Service = (*Service)(nil)

type group struct {
	name    string
	created time.Time
	streams map[string]*stream
}

type stream struct {
	created time.Time
	events  []Event
}

// Event is one log event as GetLogEvents returns it.
type Event struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// New returns CloudWatch Logs with the world's log groups.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, groups: map[string]map[string]*group{}}
	for account, groups := range cfg.LogGroups {
		s.groups[account] = map[string]*group{}
		for name := range groups {
			s.groups[account][name] = &group{name: name, streams: map[string]*stream{}}
		}
	}
	return s
}

// API is CloudWatch Logs': awsJson1_1, signed as "logs".
func (s *Service) API() awsproto.API {
	return awsproto.API{Name: "logs", Protocol: awsproto.JSON, Target: target}
}

// ErrGroupNotFound is CreateStream's answer for a log group that does not
// exist, in the words the awslogs driver relays.
var ErrGroupNotFound = fmt.Errorf("ResourceNotFoundException: The specified log group does not exist.")

// CreateStream creates a log stream of an account's log group at t, as the
// awslogs driver does when a container starts; creating a group as well
// when createGroup is set (awslogs-create-group). An existing stream is
// kept. It fails with ErrGroupNotFound when the group is missing.
func (s *Service) CreateStream(account, groupName, streamName string, createGroup bool, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(account, groupName)
	if g == nil {
		if !createGroup {
			return ErrGroupNotFound
		}
		if s.groups[account] == nil {
			s.groups[account] = map[string]*group{}
		}
		g = &group{name: groupName, created: t, streams: map[string]*stream{}}
		s.groups[account][groupName] = g
	}
	if g.streams[streamName] == nil {
		g.streams[streamName] = &stream{created: t}
	}
	return nil
}

// Put appends one event at t to a stream that CreateStream created; an
// event for a stream that does not exist is dropped, as the driver drops
// what it cannot deliver.
func (s *Service) Put(account, groupName, streamName, message string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(account, groupName)
	if g == nil || g.streams[streamName] == nil {
		return
	}
	st := g.streams[streamName]
	ms := t.UnixMilli()
	st.events = append(st.events, Event{Timestamp: ms, Message: message, IngestionTime: ms})
}

func (s *Service) group(account, name string) *group {
	return s.groups[account][name]
}

// Handle serves one CloudWatch Logs call.
func (s *Service) Handle(c *awsproto.Call) (any, *awsproto.Error) {
	if c.Caller == nil {
		return nil, awsproto.Errorf("AccessDeniedException", "Missing credentials")
	}
	switch c.Operation {
	case "GetLogEvents":
		return s.getLogEvents(c)
	}
	return nil, awsproto.Errorf("UnknownOperationException", "Unknown operation %s", c.Operation)
}

func invalidParameter(format string, args ...any) *awsproto.Error {
	return awsproto.Errorf("InvalidParameterException", format, args...)
}

func notFound(msg string) *awsproto.Error {
	return awsproto.Errorf("ResourceNotFoundException", "%s", msg)
}

// groupNamePattern is what CloudWatch Logs accepts as a log group name.
var groupNamePattern = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)

// groupARNPattern is a log group ARN, as logGroupIdentifier may give it.
var groupARNPattern = regexp.MustCompile(`^arn:[a-z-]+:logs:[a-z0-9-]+:(\d{12}):log-group:([.\-_/#A-Za-z0-9]{1,512})(?::\*)?$`)

// A token is where a page starts: f/ reads forward from an event, b/
// backward from one. The digits are the event's position; clients treat
// tokens as opaque.
var tokenPattern = regexp.MustCompile(`^([fb])/(\d{56})/s$`)

func forwardToken(i int) string  { return fmt.Sprintf("f/%056d/s", i) }
func backwardToken(i int) string { return fmt.Sprintf("b/%056d/s", i) }

func (s *Service) getLogEvents(c *awsproto.Call) (any, *awsproto.Error) {
	var in struct {
		LogGroupName       string `json:"logGroupName"`
		LogGroupIdentifier string `json:"logGroupIdentifier"`
		LogStreamName      string `json:"logStreamName"`
		StartTime          *int64 `json:"startTime"`
		EndTime            *int64 `json:"endTime"`
		NextToken          string `json:"nextToken"`
		Limit              *int   `json:"limit"`
		StartFromHead      *bool  `json:"startFromHead"`
	}
	if apiErr := c.DecodeJSON(&in); apiErr != nil {
		return nil, apiErr
	}
	account, name := c.Caller.Account, in.LogGroupName
	switch {
	case in.LogGroupName != "" && in.LogGroupIdentifier != "":
		return nil, invalidParameter("LogGroupName and LogGroupIdentifier are mutually exclusive parameters.")
	case in.LogGroupIdentifier != "":
		if m := groupARNPattern.FindStringSubmatch(in.LogGroupIdentifier); m != nil {
			account, name = m[1], m[2]
		} else {
			name = in.LogGroupIdentifier
		}
	case in.LogGroupName == "":
		return nil, invalidParameter("Either LogGroupName or LogGroupIdentifier must be specified.")
	}
	// CloudWatch Logs reports broken constraints as InvalidParameterException.
	var v awsproto.Validation
	if !groupNamePattern.MatchString(name) {
		v.Add(name, "logGroupName", `satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`)
	}
	if in.LogStreamName == "" {
		v.Null("logStreamName")
	}
	limit := maxEventsPerCall
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxEventsPerCall {
			v.Add(strconv.Itoa(*in.Limit), "limit", fmt.Sprintf("have value less than or equal to %d", maxEventsPerCall))
		}
		limit = *in.Limit
	}
	if apiErr := v.Err(); apiErr != nil {
		return nil, invalidParameter("%s", apiErr.Message)
	}
	resource := s.cfg.Partition.ARN("logs", s.cfg.Region, account, "log-group:"+name+":log-stream:"+in.LogStreamName)
	if apiErr := s.cfg.Authorizer.Authorize(c.Caller, "logs:GetLogEvents", resource, nil); apiErr != nil {
		return nil, apiErr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.group(account, name)
	if g == nil {
		return nil, notFound("The specified log group does not exist.")
	}
	st := g.streams[in.LogStreamName]
	if st == nil {
		return nil, notFound("The specified log stream does not exist.")
	}
	// The events in the time range, by position in the stream.
	lo, hi := 0, len(st.events)
	if in.StartTime != nil {
		lo = sort.Search(len(st.events), func(i int) bool { return st.events[i].Timestamp >= *in.StartTime })
	}
	if in.EndTime != nil {
		hi = sort.Search(len(st.events), func(i int) bool { return st.events[i].Timestamp >= *in.EndTime })
	}
	hi = max(lo, hi)

	fromHead := in.StartFromHead != nil && *in.StartFromHead
	var from, to int
	switch {
	case in.NextToken != "":
		m := tokenPattern.FindStringSubmatch(in.NextToken)
		if m == nil {
			return nil, invalidParameter("The specified nextToken is invalid.")
		}
		pos, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, invalidParameter("The specified nextToken is invalid.")
		}
		if m[1] == "f" {
			from = min(max(pos, lo), hi)
			to = min(from+limit, hi)
		} else {
			to = min(max(pos, lo), hi)
			from = max(to-limit, lo)
		}
	case fromHead:
		from, to = lo, min(lo+limit, hi)
	default:
		from, to = max(hi-limit, lo), hi
	}
	events := append([]Event{}, st.events[from:to]...)
	out := map[string]any{
		"events":            events,
		"nextForwardToken":  forwardToken(to),
		"nextBackwardToken": backwardToken(from),
	}
	// At the end of the stream the forward token is the one given, so
	// that a client polling with it sees that nothing new came.
	if len(events) == 0 && in.NextToken != "" && strings.HasPrefix(in.NextToken, "f/") {
		out["nextForwardToken"] = in.NextToken
	}
	return out, nil
}
