//! The `interface`/`device`/`mountpoint` params: only the items a job names, and a
//! clear error for a name the host does not have.

use crate::ProbeError;

/// The items whose `name` is in `wanted`, in the host's order; all of them without a
/// list. A wanted name the host lacks fails the run as `unavailable`, naming it and what
/// the host has (`device sdz not found; the host has: sda, sdb`).
pub fn only_named<T>(
    items: Vec<T>,
    wanted: Option<&[String]>,
    what: &str,
    name: impl Fn(&T) -> &str,
) -> Result<Vec<T>, ProbeError> {
    let Some(wanted) = wanted else {
        return Ok(items);
    };
    let missing: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|w| !items.iter().any(|i| name(i) == *w))
        .collect();
    if !missing.is_empty() {
        let have: Vec<&str> = items.iter().map(&name).collect();
        return Err(ProbeError::Unavailable(format!(
            "{what} {} not found; the host has: {}",
            missing.join(", "),
            have.join(", ")
        )));
    }
    Ok(items
        .into_iter()
        .filter(|i| wanted.iter().any(|w| w == name(i)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_items_in_host_order_or_the_missing_ones_named() {
        let items = || vec!["eth0", "lo", "wlan0"];
        let wanted = ["wlan0".to_string(), "eth0".to_string()];
        assert_eq!(
            only_named(items(), Some(&wanted), "interface", |i| i),
            Ok(vec!["eth0", "wlan0"])
        );
        assert_eq!(only_named(items(), None, "interface", |i| i), Ok(items()));
        let wanted = ["eth1".to_string(), "lo".to_string(), "eth2".to_string()];
        assert_eq!(
            only_named(items(), Some(&wanted), "interface", |i| i),
            Err(ProbeError::Unavailable(
                "interface eth1, eth2 not found; the host has: eth0, lo, wlan0".into()
            ))
        );
    }
}
