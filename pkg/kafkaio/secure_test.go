package kafkaio_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cxstream/cxstream/pkg/kafkaio"
	"github.com/cxstream/cxstream/pkg/testenv"
	"github.com/cxstream/cxstream/pkg/tlsconf"
	"github.com/cxstream/cxstream/pkg/tlsconf/tlsconftest"
)

// EnvKafkaHome names the directory of the Kafka jars (libs/) that
// scripts/services.sh fetches; `scripts/services.sh env` exports it.
const EnvKafkaHome = "CXSTREAM_KAFKA_HOME"

// Users of the secured broker: PLAIN users are in its JAAS configuration,
// the SCRAM user is written into its storage when it is formatted. The
// broker trusts the test CA too: it checks its own SSL settings by a
// handshake with itself at start.
const (
	plainUser, plainPassword = "cx-plain", "plain-secret-0123"
	scramUser, scramPassword = "cx-scram", "scram-secret-4567"
)

// startSecureKafka runs a broker of the test's own (the Kafka jars of
// scripts/services.sh, KRaft, one node) whose only client listener is
// SASL_SSL: TLS with a certificate of a test CA, and SASL PLAIN and
// SCRAM-SHA-256. It returns the listener's address and the PKI.
func startSecureKafka(t *testing.T) (string, tlsconftest.Files) {
	t.Helper()
	java := testenv.Program(t, "java")
	home := os.Getenv(EnvKafkaHome)
	if home == "" {
		if os.Getenv(testenv.EnvRequire) == "1" {
			t.Fatalf("%s is not set: the Kafka jars of scripts/services.sh, which `scripts/services.sh env` exports", EnvKafkaHome)
		}
		t.Skipf("skipping: %s is not set (run scripts/services.sh up and eval \"$(scripts/services.sh env)\")", EnvKafkaHome)
	}
	pki := tlsconftest.New(t)
	dir := t.TempDir()
	// The PEM key store: the key (PKCS #8) and the certificate in one file.
	key, err := os.ReadFile(pki.ServerKeyPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(pki.ServerCert)
	if err != nil {
		t.Fatal(err)
	}
	keystore := filepath.Join(dir, "keystore.pem")
	if err := os.WriteFile(keystore, append(key, cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	port, controller := freePort(t), freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	props := filepath.Join(dir, "server.properties")
	conf := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
listeners=SASL_SSL://%[1]s,CONTROLLER://127.0.0.1:%[2]d
advertised.listeners=SASL_SSL://%[1]s
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret" user_%[4]s="%[5]s";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=%[3]s
ssl.truststore.type=PEM
ssl.truststore.location=%[7]s
ssl.endpoint.identification.algorithm=
log.dirs=%[6]s
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`, addr, controller, keystore, plainUser, plainPassword, filepath.Join(dir, "data"), pki.CA)
	if err := os.WriteFile(props, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	jvm := []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + writeLog4j(t, dir), "-cp", filepath.Join(home, "libs") + "/*"}
	format := exec.Command(java, append(jvm, "kafka.tools.StorageTool", "format", "-t", "cxstream-secure-test-1",
		"-c", props, "--add-scram", fmt.Sprintf("SCRAM-SHA-256=[name=%s,password=%s]", scramUser, scramPassword))...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format the broker's storage: %v\n%s", err, out)
	}
	broker := exec.Command(java, append(jvm, "kafka.Kafka", props)...)
	broker.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	tlsconftest.Serve(t, broker, filepath.Join(dir, "kafka.out"), addr, 90*time.Second)
	return addr, pki
}

func writeLog4j(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "log4j2.properties")
	conf := "appender.err.type = Console\nappender.err.name = STDERR\nappender.err.target = SYSTEM_ERR\n" +
		"appender.err.layout.type = PatternLayout\nappender.err.layout.pattern = [%d] %p %m (%c)%n\n" +
		"rootLogger.level = WARN\nrootLogger.appenderRef.err.ref = STDERR\n"
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestIntegrationTLSAndSASL runs the pipeline's Kafka code (EnsureTopics,
// the writer, the group reader with its commits, the offsets client)
// against a broker that accepts only SASL over TLS, once with PLAIN and once
// with SCRAM-SHA-256, and checks that a wrong password, a missing SASL
// configuration, a missing TLS configuration and an untrusted server
// certificate are each refused.
func TestIntegrationTLSAndSASL(t *testing.T) {
	addr, pki := startSecureKafka(t)
	// topics names the topic set: each mechanism's subtest creates its
	// own; the refused clients try to write to the PLAIN subtest's.
	secured := func(mechanism, user, password, topics string) kafkaio.Config {
		cfg := kafkaio.Default()
		cfg.Brokers = []string{addr}
		cfg.Partitions, cfg.ReplicationFactor = 1, 1
		tp := &cfg.Topics
		for _, p := range []*string{&tp.Interactions, &tp.Timeline, &tp.Profiles, &tp.Identity, &tp.Triggers, &tp.DeadLetter} {
			*p += ".secure." + topics
		}
		cfg.TLS = tlsconf.Config{Enabled: true, CAFile: pki.CA}
		cfg.SASL = kafkaio.SASL{Mechanism: mechanism, Username: user, Password: password}
		return cfg
	}
	for _, c := range []struct{ mechanism, user, password string }{
		{"plain", plainUser, plainPassword},
		{"scram-sha-256", scramUser, scramPassword},
	} {
		t.Run(c.mechanism, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cfg := secured(c.mechanism, c.user, c.password, c.mechanism)
			if err := kafkaio.EnsureTopics(ctx, cfg); err != nil {
				t.Fatalf("create topics: %v", err)
			}
			client := kafkaio.Client(cfg)
			for { // a leader for the new topics before the first write
				meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topics.Interactions}})
				if err == nil && len(meta.Topics) == 1 && meta.Topics[0].Error == nil && len(meta.Topics[0].Partitions) == 1 &&
					meta.Topics[0].Partitions[0].Leader.Host != "" {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("no leader for %s: %v", cfg.Topics.Interactions, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			w := kafkaio.NewWriter(cfg)
			defer w.Close()
			topic := cfg.Topics.Interactions
			var msgs []kafka.Message
			for i := range 20 {
				msgs = append(msgs, kafka.Message{Topic: topic, Key: []byte(fmt.Sprint("k", i%3)), Value: []byte(fmt.Sprint(i))})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("write: %v", err)
			}
			group := "g-" + topic
			r := kafkaio.NewReader(cfg, group, topic)
			defer r.Close()
			seen := map[string]bool{}
			for len(seen) < len(msgs) {
				batch, err := kafkaio.FetchBatch(ctx, r, 100, 200*time.Millisecond)
				if err != nil {
					t.Fatalf("fetch: %v (after %d messages)", err, len(seen))
				}
				for _, m := range batch {
					seen[string(m.Value)] = true
				}
				if err := r.CommitMessages(ctx, batch...); err != nil {
					t.Fatalf("commit: %v", err)
				}
			}
			marks, err := kafkaio.HighWatermarks(ctx, client, topic)
			if err != nil {
				t.Fatalf("high watermarks: %v", err)
			}
			if behind, err := kafkaio.Behind(ctx, client, group, marks); err != nil || behind != 0 {
				t.Errorf("group behind by %d (%v) after committing every message", behind, err)
			}
		})
	}

	// Each refusal, and a word of the reason it must be refused for (not a
	// missing topic or a timeout).
	type refusal struct {
		cfg    kafkaio.Config
		reason string
	}
	noTLS := secured("plain", plainUser, plainPassword, "plain")
	noTLS.TLS = tlsconf.Config{}
	untrusted := secured("plain", plainUser, plainPassword, "plain")
	untrusted.TLS = tlsconf.Config{Enabled: true} // the system's roots do not know the test CA
	refused := map[string]refusal{
		"wrong PLAIN password":  {secured("plain", plainUser, plainPassword+"x", "plain"), "Authentication failed"},
		"wrong SCRAM password":  {secured("scram-sha-256", scramUser, scramPassword+"x", "plain"), "Authentication failed"},
		"PLAIN user with SCRAM": {secured("scram-sha-256", plainUser, plainPassword, "plain"), "Authentication failed"},
		// The broker closes a connection that skips the SASL handshake.
		"no SASL":               {secured("", "", "", "plain"), "EOF"},
		"no TLS":                {noTLS, "EOF"},
		"untrusted certificate": {untrusted, "unknown authority"},
	}
	for name, r := range refused {
		t.Run("refused/"+strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			w := kafkaio.NewWriter(r.cfg)
			defer w.Close()
			err := w.WriteMessages(ctx, kafka.Message{Topic: r.cfg.Topics.Interactions, Value: []byte("x")})
			if err == nil {
				t.Fatalf("%s: the write was accepted", name)
			}
			if !strings.Contains(err.Error(), r.reason) {
				t.Errorf("%s: refused with %v; want a reason containing %q", name, err, r.reason)
			}
			if strings.Contains(err.Error(), plainPassword) || strings.Contains(err.Error(), scramPassword) {
				t.Errorf("%s: the error shows a password: %v", name, err)
			}
		})
	}
}
