//! Sizes as docker and go-units write them.

/// go-units `RAMInBytes`: `12m`, `1g`, `512k`, `100b`, `1.5GiB`, plain bytes (binary units).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(invalid)?;
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let mut size: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing {num:?}: invalid syntax"))?;
    if size < 0.0 {
        return Err(invalid());
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = |sfx: &str| format!("invalid suffix: '{sfx}'");
    if sfx.len() > 3 {
        return Err(bad(&sfx.to_lowercase()));
    }
    let sfx = sfx.to_lowercase();
    let first = sfx.as_bytes()[0];
    if first == b'b' {
        if sfx.len() > 1 {
            return Err(bad(&sfx));
        }
        return Ok(size as i64);
    }
    let mul: f64 = match first {
        b'k' => 1024.0,
        b'm' => 1024.0 * 1024.0,
        b'g' => 1024.0 * 1024.0 * 1024.0,
        b't' => 1024f64.powi(4),
        b'p' => 1024f64.powi(5),
        _ => return Err(bad(&sfx)),
    };
    size *= mul;
    match sfx.len() {
        2 if &sfx[1..] != "b" => return Err(bad(&sfx)),
        3 if &sfx[1..] != "ib" => return Err(bad(&sfx)),
        _ => {}
    }
    Ok(size as i64)
}

#[cfg(test)]
mod tests {
    use super::ram_in_bytes;

    #[test]
    fn memory_sizes_parse_like_go_units() {
        assert_eq!(ram_in_bytes("12m"), Ok(12 * 1024 * 1024));
        assert_eq!(ram_in_bytes("1g"), Ok(1024 * 1024 * 1024));
        assert_eq!(ram_in_bytes("512k"), Ok(512 * 1024));
        assert_eq!(ram_in_bytes("100b"), Ok(100));
        assert_eq!(ram_in_bytes("4096"), Ok(4096));
        assert_eq!(ram_in_bytes("1.5GiB"), Ok(1610612736));
        assert_eq!(ram_in_bytes("64MB"), Ok(64 * 1024 * 1024));
        assert_eq!(
            ram_in_bytes("12zb"),
            Err("invalid suffix: 'zb'".to_string())
        );
        assert_eq!(
            ram_in_bytes("12mbx"),
            Err("invalid suffix: 'mbx'".to_string())
        );
        assert_eq!(ram_in_bytes("abc"), Err("invalid size: 'abc'".to_string()));
        // As the local volume driver's `size` reads them.
        assert_eq!(ram_in_bytes("64m"), Ok(64 << 20));
        assert_eq!(ram_in_bytes("1.5 KiB"), Ok(1536));
        assert_eq!(ram_in_bytes("10"), Ok(10));
        assert_eq!(ram_in_bytes("1gb"), Ok(1 << 30));
        assert!(ram_in_bytes("m").is_err());
        assert!(ram_in_bytes("1mm").is_err());
    }
}
