//! Whether a terminal is a production or a test terminal, as the platform registered it and its
//! CA wrote into the terminal's certificate: the only place a terminal may learn its mode from.

use rcgen::CustomExtension;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::X509Certificate;

use super::CertError;

/// The mode a terminal was registered in. Production is what any certificate without the test
/// policy is: certificates issued before modes existed, and every one a CA writes by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TerminalMode {
    /// Real sales: encrypting (SRED) reader output only, a real authorisation only.
    #[default]
    Production,
    /// A test terminal: it may read clear test-card tracks and sell with the simulated
    /// acquirer; nothing it signs is a real sale.
    Test,
}

impl TerminalMode {
    /// `production` or `test`, as the platform stores and prints it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Test => "test",
        }
    }

    pub fn is_test(self) -> bool {
        self == Self::Test
    }
}

impl std::fmt::Display for TerminalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for TerminalMode {
    type Err = crate::model::ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Self::Production),
            "test" => Ok(Self::Test),
            _ => Err(crate::model::ModelError::Invalid { field: "terminal mode", expected: "production or test" }),
        }
    }
}

/// The UUID behind the test-terminal policy OID `2.25.<uuid as an integer>` (ITU-T X.667: an
/// OID anyone may mint without registration): 9aac4f11-2263-4aca-8ad9-b3a5deb4ca93.
const TEST_POLICY_UUID: u128 = 0x9aac_4f11_2263_4aca_8ad9_b3a5_deb4_ca93;
/// certificatePolicies (RFC 5280 §4.2.1.4).
const OID_CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];

/// The content octets of the OID `2.25.<uuid>`: the first two arcs in one byte (2·40+25), then
/// the UUID in base 128, high groups first, every byte but the last with its top bit set.
pub(crate) fn test_policy_oid() -> Vec<u8> {
    let mut groups = Vec::new();
    let mut n = TEST_POLICY_UUID;
    loop {
        groups.push((n & 0x7f) as u8);
        n >>= 7;
        if n == 0 {
            break;
        }
    }
    let mut out = vec![2 * 40 + 25];
    let last = groups.len() - 1;
    out.extend(groups.iter().rev().enumerate().map(|(i, g)| if i < last { g | 0x80 } else { *g }));
    out
}

/// The extension a test terminal's certificate carries: certificatePolicies with the one test
/// policy, non-critical (TLS stacks refuse client certificates with critical extensions they do
/// not know). Production certificates carry none.
pub(crate) fn mode_extension(mode: TerminalMode) -> Option<CustomExtension> {
    if mode == TerminalMode::Production {
        return None;
    }
    let oid = test_policy_oid();
    // PolicyInformation ::= SEQUENCE { policyIdentifier OBJECT IDENTIFIER }, in a SEQUENCE.
    let mut info = vec![0x06, oid.len() as u8];
    info.extend(oid);
    let mut policy = vec![0x30, info.len() as u8];
    policy.extend(info);
    let mut content = vec![0x30, policy.len() as u8];
    content.extend(policy);
    Some(CustomExtension::from_oid_content(OID_CERTIFICATE_POLICIES, content))
}

/// The mode a parsed certificate states: test when its policies name the test policy.
pub(crate) fn mode_of(cert: &X509Certificate<'_>) -> Result<TerminalMode, CertError> {
    let oid = test_policy_oid();
    let mut mode = TerminalMode::Production;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CertificatePolicies(policies)
                if policies.iter().any(|p| p.policy_id.as_bytes() == oid.as_slice()) =>
            {
                mode = TerminalMode::Test;
            }
            ParsedExtension::ParseError { .. } if ext.oid.to_id_string() == "2.5.29.32" => {
                return Err(CertError::NotPos("its certificate policies do not parse".into()));
            }
            _ => {}
        }
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_oid_is_the_uuid_arc() {
        let arcs: Vec<u128> = {
            // Decode base 128 back, independently of the encoder's loop.
            let bytes = test_policy_oid();
            let mut arcs = vec![u128::from(bytes[0] / 40), u128::from(bytes[0] % 40)];
            let mut n = 0u128;
            for b in &bytes[1..] {
                n = n << 7 | u128::from(b & 0x7f);
                if b & 0x80 == 0 {
                    arcs.push(n);
                    n = 0;
                }
            }
            arcs
        };
        assert_eq!(arcs, vec![2, 25, 205_595_790_078_425_013_185_185_605_015_079_013_011]);
        assert_eq!("test".parse::<TerminalMode>().unwrap(), TerminalMode::Test);
        assert!("TEST".parse::<TerminalMode>().is_err());
    }
}
