//! Random container names in Docker's `adjective_surname` style.

const ADJECTIVES: &[&str] = &[
    "admiring", "adoring", "amazing", "awesome", "blissful", "bold", "brave", "busy", "charming", "clever",
    "compassionate", "confident", "cool", "dazzling", "determined", "eager", "ecstatic", "elastic", "elated",
    "elegant", "epic", "exciting", "fervent", "festive", "focused", "friendly", "gallant", "gifted", "goofy",
    "gracious", "happy", "hopeful", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical",
    "modest", "nice", "nifty", "nostalgic", "optimistic", "peaceful", "pensive", "practical", "priceless", "quirky",
    "relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "sweet", "tender", "trusting",
    "upbeat", "vibrant", "vigilant", "wizardly", "wonderful", "youthful", "zealous", "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "blackwell",
    "bohr", "booth", "borg", "bose", "brahmagupta", "brown", "cannon", "carson", "cerf", "chandrasekhar", "clarke",
    "curie", "darwin", "davinci", "dijkstra", "einstein", "elion", "engelbart", "euclid", "euler", "faraday",
    "fermat", "fermi", "feynman", "franklin", "galileo", "gauss", "goldberg", "goodall", "hamilton", "hawking",
    "heisenberg", "hodgkin", "hopper", "hypatia", "jackson", "johnson", "kalam", "kepler", "knuth", "lamport",
    "leakey", "lovelace", "lumiere", "mayer", "mccarthy", "meitner", "mirzakhani", "morse", "newton", "noether",
    "pascal", "pasteur", "perlman", "poincare", "ritchie", "shannon", "sinoussi", "stallman", "tesla", "thompson",
    "torvalds", "turing", "wilson", "wozniak", "wright", "yalow",
];

/// A fresh random name such as `brave_turing`.
pub fn random_name() -> String {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    let n = u32::from_le_bytes(b) as usize;
    format!("{}_{}", ADJECTIVES[n % ADJECTIVES.len()], SURNAMES[(n / ADJECTIVES.len()) % SURNAMES.len()])
}
