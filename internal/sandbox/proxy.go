package sandbox

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// registryProxy is an HTTPS proxy that tunnels (CONNECT) to the sandbox's
// ECR registry hosts on port 443, and to nothing else. Given as
// HTTPS_PROXY, it takes a client that can be handed neither a dialer nor
// a hosts file (skopeo, crane, the action's binary run on this machine)
// to those hosts by name, as a runner behind a proxy reaches ECR: the TLS
// session is the client's own, end to end, and no name is looked up in
// DNS.
type registryProxy struct {
	// to is where a registry host is served; nil for any other host.
	to func(hostport string) (string, bool)

	mu      sync.Mutex
	tunnels map[net.Conn]bool
	closed  bool
}

func (p *registryProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "the sandbox's proxy only tunnels (CONNECT) to its ECR registry hosts", http.StatusMethodNotAllowed)
		return
	}
	to, ok := p.to(r.Host)
	if !ok {
		http.Error(w, "the sandbox's proxy reaches its ECR registry hosts on port 443 alone, not "+r.Host, http.StatusForbidden)
		return
	}
	upstream, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(r.Context(), "tcp", to)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = upstream.Close() // no tunnel was opened
		return
	}
	if !p.track(client, upstream) {
		return
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		p.end(client, upstream)
		return
	}
	var fromClient io.Reader = client
	if n := buf.Reader.Buffered(); n > 0 {
		// What the client sent ahead of the answer.
		fromClient = io.MultiReader(io.LimitReader(buf.Reader, int64(n)), client)
	}
	go p.copy(upstream, fromClient, client, upstream)
	go p.copy(client, upstream, client, upstream)
}

// copy copies src to dst, then ends the tunnel of conns.
func (p *registryProxy) copy(dst io.Writer, src io.Reader, conns ...net.Conn) {
	// Either side's end, or an error, ends the tunnel; nothing more to tell.
	_, _ = io.Copy(dst, src)
	p.end(conns...)
}

// track remembers a tunnel's connections for Close; false (and both
// closed) once the proxy is closed.
func (p *registryProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			_ = c.Close() // the proxy is closed: the tunnel ends here
		}
		return false
	}
	if p.tunnels == nil {
		p.tunnels = map[net.Conn]bool{}
	}
	for _, c := range conns {
		p.tunnels[c] = true
	}
	return true
}

// end closes a tunnel's connections.
func (p *registryProxy) end(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close() // the other copy's close may have come first
		delete(p.tunnels, c)
	}
}

// Close ends every tunnel; the server that serves the proxy closes its
// listener.
func (p *registryProxy) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.tunnels {
		_ = c.Close() // ending them is the point; a failed close ends them too
	}
	p.tunnels = nil
}

// registryRoute is where the proxy and Transport's dialer take a registry
// host: hostport must be one of the sandbox's ECR registry hosts on port
// 443.
func (s *Sandbox) registryRoute(hostport string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || port != "443" {
		return "", false
	}
	for _, h := range s.ecr.RegistryHosts() {
		if strings.EqualFold(h, host) {
			return s.registryAddress, true
		}
	}
	return "", false
}
