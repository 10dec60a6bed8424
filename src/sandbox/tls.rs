//! A throwaway certificate authority and server certificates, made with the `openssl` CLI.
//!
//! Real https registries in tests need a CA that the system does not trust, so that
//! "works with `ca_file`, fails without it" is a real check of certificate verification.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::SandboxError;

/// A private CA in a directory: `ca.crt` (what a client would trust) and `ca.key`.
#[derive(Debug, Clone)]
pub struct TestCa {
    dir: PathBuf,
}

/// A certificate and its unencrypted key, PEM files.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a new CA under `dir` (created if needed), valid for two days.
    pub fn generate(dir: &Path) -> Result<TestCa, SandboxError> {
        fs::create_dir_all(dir).map_err(SandboxError::io(format!("creating {}", dir.display())))?;
        let ca = TestCa {
            dir: dir.to_path_buf(),
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gantry sandbox CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            path_str(&ca.key_path())?,
            "-out",
            path_str(&ca.cert_path())?,
        ])?;
        Ok(ca)
    }

    /// The CA certificate: what `ca_file` points at.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// A server certificate for 127.0.0.1 and localhost signed by this CA, as `<name>.crt`
    /// and `<name>.key` next to the CA.
    pub fn server_cert(&self, name: &str) -> Result<CertPair, SandboxError> {
        let pair = CertPair {
            cert: self.dir.join(format!("{name}.crt")),
            key: self.dir.join(format!("{name}.key")),
        };
        let csr = self.dir.join(format!("{name}.csr"));
        let ext = self.dir.join(format!("{name}.ext"));
        // webpki refuses a CA certificate as a server's and insists on subjectAltName.
        fs::write(
            &ext,
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .map_err(SandboxError::io(format!("writing {}", ext.display())))?;
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            path_str(&pair.key)?,
            "-out",
            path_str(&csr)?,
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr)?,
            "-CA",
            path_str(&self.cert_path())?,
            "-CAkey",
            path_str(&self.key_path())?,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            path_str(&ext)?,
            "-out",
            path_str(&pair.cert)?,
        ])?;
        Ok(pair)
    }
}

pub(super) fn path_str(path: &Path) -> Result<&str, SandboxError> {
    path.to_str()
        .ok_or_else(|| SandboxError::Invalid(format!("path {} is not UTF-8", path.display())))
}

/// Runs `openssl ARGS` with no input; its output goes to files named in ARGS.
pub(super) fn openssl(args: &[&str]) -> Result<Vec<u8>, SandboxError> {
    openssl_with_input(args, None)
}

/// Runs `openssl ARGS`, feeding `input` on stdin; returns stdout.
pub(super) fn openssl_with_input(
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<Vec<u8>, SandboxError> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                SandboxError::ToolMissing {
                    tool: "openssl",
                    hint: "apt-get install openssl",
                }
            } else {
                SandboxError::Io {
                    context: "running openssl".to_string(),
                    source: e,
                }
            }
        })?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input)
            .map_err(SandboxError::io("writing to openssl"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(SandboxError::io("waiting for openssl"))?;
    if !output.status.success() {
        return Err(SandboxError::CommandFailed {
            command: format!("openssl {}", args.first().copied().unwrap_or_default()),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}
