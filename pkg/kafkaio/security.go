package kafkaio

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASL authenticates to the brokers. The zero value is no authentication.
type SASL struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512" ("": none).
	// PLAIN sends the password as is: use it only over TLS.
	Mechanism string `yaml:"mechanism"`
	// Username and Password (CXSTREAM_KAFKA_SASL_USERNAME and
	// CXSTREAM_KAFKA_SASL_PASSWORD, to keep the secret out of the file).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// mechanism returns the kafka-go mechanism, nil for none.
func (s SASL) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case "plain":
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case "scram-sha-256":
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case "scram-sha-512":
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, fmt.Errorf("unknown mechanism %q (want plain, scram-sha-256 or scram-sha-512)", s.Mechanism)
}

// validateSecurity checks the TLS and SASL sections by building them.
func (c Config) validateSecurity() error {
	var errs []error
	if err := c.TLS.Validate("kafka.tls"); err != nil {
		errs = append(errs, err)
	} else if _, err := c.TLS.Load(); err != nil {
		errs = append(errs, fmt.Errorf("kafka.tls: %w", err))
	}
	if _, err := c.SASL.mechanism(); err != nil {
		errs = append(errs, fmt.Errorf("kafka.sasl.mechanism: %w", err))
	} else if c.SASL.Mechanism != "" && (c.SASL.Username == "" || c.SASL.Password == "") {
		errs = append(errs, errors.New("kafka.sasl.username and kafka.sasl.password: required with a mechanism (CXSTREAM_KAFKA_SASL_USERNAME, CXSTREAM_KAFKA_SASL_PASSWORD)"))
	}
	return errors.Join(errs...)
}

// security returns the TLS configuration (nil: plaintext) and the SASL
// mechanism (nil: none). The configuration must have been validated: an
// error here means it was not, and stops the process rather than fall back
// to plaintext.
func (c Config) security() (*tls.Config, sasl.Mechanism) {
	t, err := c.TLS.Load()
	if err != nil {
		panic(fmt.Sprintf("kafkaio: kafka.tls not validated: %v", err))
	}
	m, err := c.SASL.mechanism()
	if err != nil {
		panic(fmt.Sprintf("kafkaio: kafka.sasl not validated: %v", err))
	}
	return t, m
}

// transport is the connection pool of writers and clients: nil for
// plaintext without SASL, where kafka-go's shared DefaultTransport serves.
// A transport keeps its connections: build one per writer or client and
// keep it, not one per request.
func (c Config) transport() *kafka.Transport {
	t, m := c.security()
	if t == nil && m == nil {
		return nil
	}
	return &kafka.Transport{TLS: t, SASL: m, DialTimeout: 10 * time.Second}
}

// Dialer returns the connection factory of readers and single-partition
// connections, with the configuration's TLS and SASL.
func Dialer(cfg Config) *kafka.Dialer { return cfg.dialer() }

// dialer is the connection factory of readers.
func (c Config) dialer() *kafka.Dialer {
	t, m := c.security()
	return &kafka.Dialer{TLS: t, SASLMechanism: m, Timeout: 10 * time.Second, DualStack: true}
}

// Client returns a kafka-go client of the brokers (admin requests, offsets),
// with the configuration's TLS and SASL. Keep it for repeated requests: its
// transport holds connections.
func Client(cfg Config) *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...)}
	if t := cfg.transport(); t != nil {
		c.Transport = t
	}
	return c
}
