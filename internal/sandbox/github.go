package sandbox

import "net/http"

// githubService stands in for GitHub's OIDC token service.
type githubService struct {
	s            *Sandbox
	requestToken string
}

func newGitHubService(s *Sandbox) (*githubService, error) {
	return &githubService{s: s, requestToken: randomToken(30)}, nil
}

func (g *githubService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}

// requestURL is the value of ACTIONS_ID_TOKEN_REQUEST_URL.
func (g *githubService) requestURL() string {
	return g.s.GitHubURL() + "/_apis/distributedtask/token?api-version=2.0"
}

func (g *githubService) issuedSecrets() []string { return []string{g.requestToken} }
