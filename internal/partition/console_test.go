package partition

import "testing"

func TestConsoleHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		region, want string
		ok           bool
	}{
		{"us-east-1", "us-east-1.console.aws.amazon.com", true},
		{"eu-west-3", "eu-west-3.console.aws.amazon.com", true},
		{"cn-north-1", "cn-north-1.console.amazonaws.cn", true},
		{"cn-northwest-1", "cn-northwest-1.console.amazonaws.cn", true},
		{"us-gov-west-1", "us-gov-west-1.console.amazonaws-us-gov.com", true},
		{"us-iso-east-1", "", false},
	}
	for _, tt := range tests {
		p, ok := ForRegion(tt.region)
		if !ok {
			t.Fatalf("ForRegion(%s): no partition", tt.region)
		}
		got, ok := p.ConsoleHost(tt.region)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s.ConsoleHost(%s) = %q, %v; want %q, %v", p.ID, tt.region, got, ok, tt.want, tt.ok)
		}
	}
}
