//! Which carrier's gateway an SMS to a number goes through: China Telecom, China Mobile, China
//! Unicom or China Broadnet from the +86 mobile prefix, with number-portability overrides from
//! the settings; international numbers and anything unknown go to the default (SMPP) route.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A mainland mobile carrier, as its numbers are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Carrier {
    /// 中国电信: reached over SMGP.
    Telecom,
    /// 中国移动: reached over CMPP.
    Mobile,
    /// 中国联通: reached over SGIP.
    Unicom,
    /// 中国广电 (192): its subscribers ride China Mobile's radio network and are reached through
    /// China Mobile's gateway, under China Mobile's content rules.
    Broadnet,
}

impl Carrier {
    pub const ALL: [Carrier; 4] = [Carrier::Telecom, Carrier::Mobile, Carrier::Unicom, Carrier::Broadnet];

    /// The name in settings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Telecom => "telecom",
            Carrier::Mobile => "mobile",
            Carrier::Unicom => "unicom",
            Carrier::Broadnet => "broadnet",
        }
    }

    /// The carrier whose gateway and rules apply: China Broadnet's SMS go through China Mobile.
    pub fn network(self) -> Carrier {
        match self {
            Carrier::Broadnet => Carrier::Mobile,
            other => other,
        }
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Carrier {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Carrier::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a carrier (telecom, mobile, unicom, broadnet)"))
    }
}

/// Where a text goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A mainland mobile number of this carrier (after overrides).
    Carrier(Carrier),
    /// International, or a +86 number whose carrier is not known (IoT ranges, landlines): the
    /// default gateway (SMPP, an aggregator).
    Default,
}

/// The +86 mobile number blocks, by the first three digits (four where one block is split).
///
/// Source: Wikipedia, "Telephone numbers in China", section "Mobile phones" (the MIIT allocation
/// table, read 2026-12-03 via the wikimili.com mirror), and MIIT's 2019 allocation of 190
/// (Telecom), 197 (Mobile), 196 (Unicom) and 192 (Broadnet). The virtual operators' blocks are
/// listed by their host network: 162 Telecom, 165 Mobile, 167 and 171 Unicom, and 170 split by
/// its fourth digit (1700-1702 Telecom, 1703/1705/1706 Mobile, 1704/1707-1709 Unicom). 140-144
/// (13-digit IoT numbers) and 14x data-only blocks other than those listed are not routed.
const PREFIXES: &[(&str, Carrier)] = &[
    // China Mobile
    ("1340", Carrier::Mobile),
    ("1341", Carrier::Mobile),
    ("1342", Carrier::Mobile),
    ("1343", Carrier::Mobile),
    ("1344", Carrier::Mobile),
    ("1345", Carrier::Mobile),
    ("1346", Carrier::Mobile),
    ("1347", Carrier::Mobile),
    ("1348", Carrier::Mobile),
    ("135", Carrier::Mobile),
    ("136", Carrier::Mobile),
    ("137", Carrier::Mobile),
    ("138", Carrier::Mobile),
    ("139", Carrier::Mobile),
    ("147", Carrier::Mobile),
    ("148", Carrier::Mobile),
    ("150", Carrier::Mobile),
    ("151", Carrier::Mobile),
    ("152", Carrier::Mobile),
    ("157", Carrier::Mobile),
    ("158", Carrier::Mobile),
    ("159", Carrier::Mobile),
    ("165", Carrier::Mobile),
    ("1703", Carrier::Mobile),
    ("1705", Carrier::Mobile),
    ("1706", Carrier::Mobile),
    ("172", Carrier::Mobile),
    ("178", Carrier::Mobile),
    ("182", Carrier::Mobile),
    ("183", Carrier::Mobile),
    ("184", Carrier::Mobile),
    ("187", Carrier::Mobile),
    ("188", Carrier::Mobile),
    ("195", Carrier::Mobile),
    ("197", Carrier::Mobile),
    ("198", Carrier::Mobile),
    // China Unicom
    ("130", Carrier::Unicom),
    ("131", Carrier::Unicom),
    ("132", Carrier::Unicom),
    ("145", Carrier::Unicom),
    ("146", Carrier::Unicom),
    ("155", Carrier::Unicom),
    ("156", Carrier::Unicom),
    ("166", Carrier::Unicom),
    ("167", Carrier::Unicom),
    ("1704", Carrier::Unicom),
    ("1707", Carrier::Unicom),
    ("1708", Carrier::Unicom),
    ("1709", Carrier::Unicom),
    ("171", Carrier::Unicom),
    ("175", Carrier::Unicom),
    ("176", Carrier::Unicom),
    ("185", Carrier::Unicom),
    ("186", Carrier::Unicom),
    ("196", Carrier::Unicom),
    // China Telecom (1349: its satellite service)
    ("133", Carrier::Telecom),
    ("1349", Carrier::Telecom),
    ("149", Carrier::Telecom),
    ("153", Carrier::Telecom),
    ("162", Carrier::Telecom),
    ("1700", Carrier::Telecom),
    ("1701", Carrier::Telecom),
    ("1702", Carrier::Telecom),
    ("173", Carrier::Telecom),
    ("174", Carrier::Telecom),
    ("177", Carrier::Telecom),
    ("180", Carrier::Telecom),
    ("181", Carrier::Telecom),
    ("189", Carrier::Telecom),
    ("190", Carrier::Telecom),
    ("191", Carrier::Telecom),
    ("193", Carrier::Telecom),
    ("199", Carrier::Telecom),
    // China Broadnet
    ("192", Carrier::Broadnet),
];

/// The carrier a mainland mobile number (11 digits, no country code) was allocated to.
pub fn allocated_carrier(national: &str) -> Option<Carrier> {
    if national.len() != 11 || !national.starts_with('1') || !national.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The four-digit splits are listed before their three-digit neighbours would match: take
    // the longest prefix that matches.
    PREFIXES.iter().filter(|(p, _)| national.starts_with(p)).max_by_key(|(p, _)| p.len()).map(|(_, c)| *c)
}

/// A ported number or block: numbers starting with `prefix` (E.164, "+86138…", a whole number
/// or any leading part of one) belong to `carrier`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub prefix: String,
    pub carrier: Carrier,
}

impl Override {
    /// "+" and 1 to 15 digits.
    pub fn check(&self) -> Result<(), String> {
        let digits = self.prefix.strip_prefix('+').unwrap_or("");
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("override prefix {:?} is not \"+\" and 1 to 15 digits", self.prefix));
        }
        Ok(())
    }
}

/// The route of a text to `recipient` (E.164): the longest matching override, else the
/// allocation of a +86 mobile number, else the default route.
pub fn route(recipient: &str, overrides: &[Override]) -> Route {
    let number = recipient.trim();
    if let Some(o) = overrides.iter().filter(|o| number.starts_with(&o.prefix)).max_by_key(|o| o.prefix.len()) {
        return Route::Carrier(o.carrier);
    }
    match number.strip_prefix("+86").and_then(allocated_carrier) {
        Some(c) => Route::Carrier(c),
        None => Route::Default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: &str) -> Route {
        route(n, &[])
    }

    #[test]
    fn each_carrier_is_found_by_its_prefixes() {
        for n in ["+8613800138000", "+8613412345678", "+8615012345678", "+8619812345678", "+8619712345678"] {
            assert_eq!(r(n), Route::Carrier(Carrier::Mobile), "{n}");
        }
        for n in ["+8613012345678", "+8618612345678", "+8616612345678", "+8619612345678", "+8617112345678"] {
            assert_eq!(r(n), Route::Carrier(Carrier::Unicom), "{n}");
        }
        for n in ["+8613312345678", "+8618912345678", "+8619912345678", "+8619012345678", "+8613491234567"] {
            assert_eq!(r(n), Route::Carrier(Carrier::Telecom), "{n}");
        }
        assert_eq!(r("+8619212345678"), Route::Carrier(Carrier::Broadnet));
        assert_eq!(Carrier::Broadnet.network(), Carrier::Mobile, "Broadnet goes through China Mobile");
    }

    #[test]
    fn the_virtual_operators_170_block_goes_by_its_fourth_digit() {
        assert_eq!(r("+8617001234567"), Route::Carrier(Carrier::Telecom));
        assert_eq!(r("+8617031234567"), Route::Carrier(Carrier::Mobile));
        assert_eq!(r("+8617051234567"), Route::Carrier(Carrier::Mobile));
        assert_eq!(r("+8617041234567"), Route::Carrier(Carrier::Unicom));
        assert_eq!(r("+8617091234567"), Route::Carrier(Carrier::Unicom));
        assert_eq!(r("+8616212345678"), Route::Carrier(Carrier::Telecom));
        assert_eq!(r("+8616512345678"), Route::Carrier(Carrier::Mobile));
        assert_eq!(r("+8616712345678"), Route::Carrier(Carrier::Unicom));
    }

    #[test]
    fn international_and_unknown_numbers_take_the_default_route() {
        assert_eq!(r("+12025550143"), Route::Default);
        assert_eq!(r("+447700900123"), Route::Default);
        assert_eq!(r("+85291234567"), Route::Default, "Hong Kong is not +86");
        assert_eq!(r("+861380013800"), Route::Default, "ten digits");
        assert_eq!(r("+861401234567890"), Route::Default, "IoT block");
        assert_eq!(r("+861012345678"), Route::Default, "Beijing landline");
        assert_eq!(r("8613800138000"), Route::Default, "not E.164");
    }

    #[test]
    fn an_override_beats_the_allocation_and_the_longest_one_wins() {
        let o = |prefix: &str, carrier| Override { prefix: prefix.into(), carrier };
        let overrides =
            [o("+86138", Carrier::Telecom), o("+8613800138000", Carrier::Unicom), o("+1202", Carrier::Mobile)];
        assert_eq!(route("+8613800138000", &overrides), Route::Carrier(Carrier::Unicom), "ported number");
        assert_eq!(route("+8613800138001", &overrides), Route::Carrier(Carrier::Telecom), "ported block");
        assert_eq!(route("+8613900139000", &overrides), Route::Carrier(Carrier::Mobile), "untouched");
        assert_eq!(route("+12025550143", &overrides), Route::Carrier(Carrier::Mobile));
        assert!(o("+86138", Carrier::Mobile).check().is_ok());
        assert!(o("86138", Carrier::Mobile).check().is_err());
        assert!(o("+86-138", Carrier::Mobile).check().is_err());
    }
}
