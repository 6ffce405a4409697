package ghaction

import (
	"maps"
	"testing"
)

func TestParseOutputs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		in      string
		want    map[string]string
		wantErr bool
	}{
		{name: "plain", in: "a=1\nb=x=y\n", want: map[string]string{"a": "1", "b": "x=y"}},
		{name: "heredoc", in: "r<<EOF_1\n[1,\n2]\nEOF_1\nz=0\n", want: map[string]string{"r": "[1,\n2]", "z": "0"}},
		{name: "last_wins", in: "a=1\na=2\n", want: map[string]string{"a": "2"}},
		{name: "unclosed", in: "r<<EOF\nx\n", wantErr: true},
		{name: "garbage", in: "just words\n", wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseOutputs([]byte(c.in))
			if (err != nil) != c.wantErr {
				t.Fatalf("ParseOutputs(%q) error = %v, want error %v", c.in, err, c.wantErr)
			}
			if err == nil && !maps.Equal(got, c.want) {
				t.Errorf("ParseOutputs(%q) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}
