//! MRH graph algorithms (concepts §7): the relation vocabulary, BFS horizon
//! with zones, path trust propagation combined by noisy-OR, zone decay, and
//! relationship summaries. Pure: the daemon keeps the adjacency, this module
//! walks it.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// The Web4 ontology namespace.
pub const WEB4: &str = "https://web4.io/ontology#";

/// Decay per hop used by both trust functions.
pub const DECAY: f64 = 0.7;

/// Hops past which a node is BEYOND the horizon (zone trust 0).
pub const MAX_ZONE_HOPS: u32 = 5;

/// Default traversal depth.
pub const DEFAULT_DEPTH: u32 = 3;

/// What a relation is about, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Binding,
    Pairing,
    Witness,
    Membership,
    Delegation,
    Other,
}

/// Relations (local names in the `web4:` namespace), each with its category.
/// The first nine are the standard's sub-properties of `hasRelationship`.
pub const RELATIONS: [(&str, Category); 16] = [
    ("boundTo", Category::Binding),
    ("parentBinding", Category::Binding),
    ("childBinding", Category::Binding),
    ("siblingBinding", Category::Binding),
    ("pairedWith", Category::Pairing),
    ("energyPairing", Category::Pairing),
    ("dataPairing", Category::Pairing),
    ("servicePairing", Category::Pairing),
    ("witnessedBy", Category::Witness),
    ("timeWitness", Category::Witness),
    ("auditWitness", Category::Witness),
    ("oracleWitness", Category::Witness),
    ("memberOf", Category::Membership),
    ("hasAuthority", Category::Membership),
    ("hasLawOracle", Category::Membership),
    ("delegatesTo", Category::Delegation),
];

/// The category of a relation given by local name or full IRI.
pub fn category(relation: &str) -> Option<Category> {
    let local = relation.strip_prefix(WEB4).unwrap_or(relation);
    RELATIONS.iter().find(|(n, _)| *n == local).map(|(_, c)| *c)
}

/// The full IRI of a relation's local name.
pub fn relation_iri(local: &str) -> String {
    format!("{WEB4}{local}")
}

/// MRH zone of a hop count.
pub fn zone(hops: u32) -> &'static str {
    crate::tensor::zone(hops)
}

/// Zone decay: `base · 0.7^hops`, zero beyond 4 hops.
pub fn zone_trust(base: f64, hops: u32) -> f64 {
    crate::tensor::hop_trust(base, hops, DECAY)
}

/// One directed, weighted edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub source: String,
    pub target: String,
    /// Relation local name (`pairedWith`, …).
    pub relation: String,
    pub weight: f64,
}

/// An adjacency list over both directions of every edge.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    /// node → (neighbour, edge index)
    adj: HashMap<String, Vec<(String, usize)>>,
    edges: Vec<Option<Edge>>,
    index: HashMap<(String, String, String), usize>,
}

/// A horizon: distances and zones from an origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Horizon {
    pub distances: BTreeMap<String, u32>,
    pub zones: BTreeMap<&'static str, Vec<String>>,
    /// Nodes left out because the node limit was reached.
    pub truncated: bool,
}

/// A path found by trust propagation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathTrust {
    pub nodes: Vec<String>,
    pub relations: Vec<String>,
    pub trust: f64,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Add (or re-weight) an edge.
    pub fn add(&mut self, e: Edge) {
        let key = (e.source.clone(), e.relation.clone(), e.target.clone());
        if let Some(&i) = self.index.get(&key) {
            self.edges[i] = Some(e);
            return;
        }
        let i = self.edges.len();
        self.adj.entry(e.source.clone()).or_default().push((e.target.clone(), i));
        if e.source != e.target {
            self.adj.entry(e.target.clone()).or_default().push((e.source.clone(), i));
        }
        self.index.insert(key, i);
        self.edges.push(Some(e));
    }

    /// Remove an edge (no-op when absent).
    pub fn remove(&mut self, source: &str, relation: &str, target: &str) {
        let key = (source.to_owned(), relation.to_owned(), target.to_owned());
        let Some(i) = self.index.remove(&key) else { return };
        self.edges[i] = None;
        for n in [source, target] {
            if let Some(list) = self.adj.get_mut(n) {
                list.retain(|(_, j)| *j != i);
                if list.is_empty() {
                    self.adj.remove(n);
                }
            }
        }
    }

    /// Number of live edges.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the graph has no edges.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `node` has any edge.
    pub fn contains(&self, node: &str) -> bool {
        self.adj.contains_key(node)
    }

    fn neighbours<'a>(&'a self, node: &str) -> impl Iterator<Item = (&'a str, &'a Edge)> + 'a {
        self.adj
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|(n, i)| self.edges.get(*i).and_then(Option::as_ref).map(|e| (n.as_str(), e)))
    }

    /// BFS over edges in both directions up to `depth`, visiting at most
    /// `max_nodes` nodes; `relations` (local names), when given, restricts the
    /// edges followed.
    pub fn horizon(&self, origin: &str, depth: u32, max_nodes: usize, relations: Option<&[String]>) -> Horizon {
        let mut distances = BTreeMap::new();
        let mut queue = VecDeque::new();
        let mut truncated = false;
        distances.insert(origin.to_owned(), 0u32);
        queue.push_back((origin.to_owned(), 0u32));
        while let Some((n, d)) = queue.pop_front() {
            if d >= depth {
                continue;
            }
            for (m, e) in self.neighbours(&n) {
                if relations.is_some_and(|r| !r.iter().any(|x| x == &e.relation)) || distances.contains_key(m) {
                    continue;
                }
                if distances.len() >= max_nodes {
                    truncated = true;
                    break;
                }
                distances.insert(m.to_owned(), d + 1);
                queue.push_back((m.to_owned(), d + 1));
            }
        }
        let mut zones: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for (n, d) in &distances {
            zones.entry(zone(*d)).or_default().push(n.clone());
        }
        Horizon { distances, zones, truncated }
    }

    /// Trust from `source` to `target` along every simple path of at most
    /// `depth` edges (either direction): each path gives `Π w_i · 0.7^(i+1)`,
    /// and paths combine by noisy-OR `1 − Π(1 − t_p)`. At most `max_paths`
    /// paths are explored (the strongest are not guaranteed beyond that).
    pub fn path_trust(&self, source: &str, target: &str, depth: u32, max_paths: usize) -> (f64, Vec<PathTrust>) {
        let mut paths = Vec::new();
        if source == target {
            return (1.0, paths);
        }
        let mut on_path: HashSet<String> = HashSet::from([source.to_owned()]);
        let mut nodes = vec![source.to_owned()];
        let mut relations = Vec::new();
        self.dfs(source, target, depth, 1.0, max_paths, &mut on_path, &mut nodes, &mut relations, &mut paths);
        let distrust: f64 = paths.iter().map(|p| 1.0 - p.trust).product();
        paths.sort_by(|a, b| b.trust.total_cmp(&a.trust));
        (1.0 - distrust, paths)
    }

    #[allow(clippy::too_many_arguments)]
    fn dfs(
        &self,
        at: &str,
        target: &str,
        depth: u32,
        trust: f64,
        max_paths: usize,
        on_path: &mut HashSet<String>,
        nodes: &mut Vec<String>,
        relations: &mut Vec<String>,
        out: &mut Vec<PathTrust>,
    ) {
        let hop = i32::try_from(nodes.len()).unwrap_or(i32::MAX); // i + 1 for the next edge
        for (m, e) in self.neighbours(at) {
            if out.len() >= max_paths {
                return;
            }
            if on_path.contains(m) {
                continue;
            }
            let t = trust * e.weight * DECAY.powi(hop);
            if m == target {
                let mut ns = nodes.clone();
                ns.push(m.to_owned());
                let mut rs = relations.clone();
                rs.push(e.relation.clone());
                out.push(PathTrust { nodes: ns, relations: rs, trust: t });
                continue;
            }
            if nodes.len() as u32 >= depth || t <= 0.0 {
                continue;
            }
            on_path.insert(m.to_owned());
            nodes.push(m.to_owned());
            relations.push(e.relation.clone());
            self.dfs(m, target, depth, t, max_paths, on_path, nodes, relations, out);
            relations.pop();
            nodes.pop();
            on_path.remove(m);
        }
    }

    /// Count of `node`'s relations (both directions) by category.
    pub fn summary(&self, node: &str) -> BTreeMap<Category, u32> {
        let mut out: BTreeMap<Category, u32> =
            [Category::Binding, Category::Pairing, Category::Witness].into_iter().map(|c| (c, 0)).collect();
        for (_, e) in self.neighbours(node) {
            *out.entry(category(&e.relation).unwrap_or(Category::Other)).or_default() += 1;
        }
        out
    }

    /// Simple paths between two nodes of at most `depth` edges (at most `max` paths).
    pub fn paths(&self, source: &str, target: &str, depth: u32, max: usize) -> Vec<PathTrust> {
        self.path_trust(source, target, depth, max).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(edges: &[(&str, &str, &str, f64)]) -> Graph {
        let mut g = Graph::new();
        for (s, t, r, w) in edges {
            g.add(Edge { source: (*s).into(), target: (*t).into(), relation: (*r).into(), weight: *w });
        }
        g
    }

    #[test]
    fn noisy_or_over_two_paths() {
        let g = g(&[("a", "b", "pairedWith", 1.0), ("b", "c", "pairedWith", 1.0), ("a", "c", "witnessedBy", 0.5)]);
        let (t, paths) = g.path_trust("a", "c", 3, 100);
        // direct: 0.5·0.7 = 0.35; via b: 0.7 · 0.49 = 0.343; 1 − 0.65·0.657
        assert!((t - (1.0 - 0.65 * 0.657)).abs() < 1e-12, "{t}");
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0].nodes, vec!["a", "c"]);
    }

    #[test]
    fn remove_and_limits() {
        let mut g = g(&[("a", "b", "pairedWith", 1.0), ("b", "c", "pairedWith", 1.0)]);
        assert!(g.horizon("a", 3, 2, None).truncated);
        g.remove("a", "pairedWith", "b");
        assert_eq!(g.len(), 1);
        assert!(!g.contains("a"));
        assert_eq!(g.path_trust("a", "c", 3, 10).0, 0.0);
        assert_eq!(g.horizon("b", 3, 100, Some(&["boundTo".into()])).distances.len(), 1);
    }
}
