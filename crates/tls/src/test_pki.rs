//! Certificates for tests (feature `test-pki`): a private CA and the leaf certificates it
//! signs, as PEM, generated with rcgen at test time so no key is ever committed.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The names a test server answers on: what a test client dials.
pub const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A private certificate authority.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its private key (PKCS#8), in PEM.
pub struct TestLeaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A new CA whose subject is `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        TestCa { issuer }
    }

    /// The CA's certificate in PEM (what a client trusts).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA's certificate to `path`.
    pub fn write_cert(&self, path: &Path) {
        std::fs::write(path, self.cert_pem()).expect("write the CA certificate");
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> TestLeaf {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "mileverse test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        TestLeaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server certificate for [`LOOPBACK_NAMES`].
    pub fn loopback_leaf(&self) -> TestLeaf {
        self.leaf(&LOOPBACK_NAMES)
    }
}

impl TestLeaf {
    /// Writes the certificate and key (replacing the files' contents).
    pub fn write(&self, cert_path: &Path, key_path: &Path) {
        std::fs::write(cert_path, &self.cert_pem).expect("write the certificate");
        std::fs::write(key_path, &self.key_pem).expect("write the key");
    }
}

/// The variable `scripts/pg.sh env` exports: the path of the test PostgreSQL server's CA.
pub const TEST_PG_CA_VARIABLE: &str = "MILEVERSE_TEST_PG_CA";

/// How tests reach the test PostgreSQL server (`MILEVERSE_TEST_DATABASE_URL`): the system's
/// roots plus the server's CA when [`TEST_PG_CA_VARIABLE`] is set (a server without TLS
/// needs none: `sslmode=prefer` then connects in plain).
pub fn test_database_tls() -> crate::ClientTls {
    let ca_file = std::env::var_os(TEST_PG_CA_VARIABLE).map(std::path::PathBuf::from);
    crate::ClientTls::new(ca_file.as_deref())
        .unwrap_or_else(|error| panic!("{TEST_PG_CA_VARIABLE} must name a readable CA: {error}"))
}
