package awsproto

import (
	"encoding/json"
	"strconv"
	"time"
)

// Timestamp is an awsJson1_1 timestamp: seconds since the epoch, with the
// milliseconds as a fraction. The zero Timestamp is omitted by omitzero.
type Timestamp struct{ time.Time }

// At is t as a Timestamp.
func At(t time.Time) Timestamp { return Timestamp{t} }

// MarshalJSON writes seconds with millisecond precision, as AWS does.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

// UnmarshalJSON reads seconds since the epoch.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	var f float64
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	t.Time = time.UnixMilli(int64(f * 1000)).UTC()
	return nil
}
