//! A test's own broker and ClickHouse, started by deploy/stack.sh on free
//! ports with a private data dir: tests that stop or restart them do not
//! disturb the tests sharing the local stack.

use std::path::PathBuf;
use std::process::Command;

pub struct Stack {
    pub dir: PathBuf,
    pub kafka_port: u16,
    pub http_port: u16,
    pub tcp_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Stack {
    /// Start tansu and ClickHouse for `test` (each ready when this returns).
    pub fn start(test: &str) -> Stack {
        let dir = std::env::temp_dir().join(format!("voc-stack-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let stack = Stack {
            dir,
            kafka_port: free_port(),
            http_port: free_port(),
            tcp_port: free_port(),
        };
        stack.run("start");
        stack
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    pub fn clickhouse_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// `deploy/stack.sh <what>` on this stack (start, stop, start-broker,
    /// stop-broker, start-clickhouse, stop-clickhouse).
    pub fn run(&self, what: &str) {
        let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/stack.sh"))
            .arg(what)
            .env("VOC_DATA_DIR", &self.dir)
            .env("VOC_KAFKA_PORT", self.kafka_port.to_string())
            .env("VOC_CLICKHOUSE_HTTP_PORT", self.http_port.to_string())
            .env("VOC_CLICKHOUSE_TCP_PORT", self.tcp_port.to_string())
            .env_remove("VOC_KAFKA__BROKERS")
            .env_remove("VOC_CLICKHOUSE__URL")
            .output()
            .expect("running deploy/stack.sh");
        assert!(
            out.status.success(),
            "stack.sh {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.run("stop");
        // Deleting ClickHouse's files can take a while: not on the test's time.
        let _ = Command::new("rm").arg("-rf").arg(&self.dir).spawn();
    }
}
