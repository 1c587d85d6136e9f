package web

import "time"

// Status is what the status page shows of a court, readable by anyone:
// the court's newest signed head with the witnesses that cosigned it, the
// other courts it mirrors and how fresh each mirror is, and every active
// alarm. The node fills it from its own state (court.Node.webStatus).
type Status struct {
	Node  string
	Ready bool
	// NotReady says why the node answering is not ready, if it is not.
	NotReady string
	// Empty: the court has filed nothing yet, so it has no signed head.
	Empty   bool
	Head    Head
	Mirrors []Mirror
	Alarms  []Alarm
	// Stamping: the court's heads are stamped by the TSAs named (issue
	// 16); StampedSize is the newest stamped head, Behind the heads signed
	// since, the oldest of them at BehindSince.
	TSAs        []string
	StampedSize uint64
	Behind      uint64
	BehindSince time.Time
}

// Head is a signed tree head and its cosignatures.
type Head struct {
	Size      uint64
	RootHex   string
	Time      time.Time
	Note      string // the C2SP signed note, as signed
	Witnesses []Cosignature
}

// Cosignature is one witness court's cosignature line on a head.
type Cosignature struct {
	Court string
	KeyID string
	Time  time.Time
}

// Mirror is this court's copy of another court's log.
type Mirror struct {
	Court     string
	Size      uint64
	HeadTime  time.Time
	CheckedAt time.Time // when the court's newest head was last found to be the one held
	Alarmed   bool
	LastError string
}

// Alarm is an active fork or corruption alarm.
type Alarm struct {
	Court, Kind, Detail, Source string
	RaisedAt                    time.Time
}
