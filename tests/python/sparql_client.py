#!/usr/bin/env python3
"""Standard SPARQL clients against web4d's endpoint: SPARQLWrapper for SELECT,
ASK and CONSTRUCT in several result formats, and rdflib's SPARQLStore. None of
this code knows anything about web4d beyond the endpoint URL.

    python3 sparql_client.py --node http://127.0.0.1:8000
"""
import argparse
import sys

import rdflib
from rdflib.plugins.stores.sparqlstore import SPARQLStore
from SPARQLWrapper import CSV, JSON, TURTLE, XML, SPARQLWrapper

W4 = "https://web4.io/ontology#"


def check(cond, what):
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok   {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--node", required=True)
    args = ap.parse_args()
    endpoint = args.node.rstrip("/") + "/v1/graph/query"

    sw = SPARQLWrapper(endpoint)
    sw.setQuery(f"SELECT ?m ?s WHERE {{ ?m <{W4}memberOf> ?s }} ORDER BY ?m")
    sw.setReturnFormat(JSON)
    rows = sw.query().convert()["results"]["bindings"]
    check(len(rows) >= 2, f"SELECT (JSON, GET): {len(rows)} members")
    society = rows[0]["s"]["value"]
    check(society.startswith("lct:web4:society:"), f"members belong to {society}")

    sw.setMethod("POST")
    sw.setReturnFormat(XML)
    doc = sw.query().convert()
    check(len(doc.getElementsByTagName("result")) == len(rows), "SELECT (XML, POST form) gives the same rows")

    sw.setMethod("GET")
    sw.setReturnFormat(CSV)
    csv = sw.query().convert().decode()
    check(csv.splitlines()[0].strip() == "m,s" and len(csv.strip().splitlines()) == len(rows) + 1, "SELECT (CSV)")

    ask = SPARQLWrapper(endpoint)
    ask.setQuery(f"ASK {{ <{society}> a <{W4}Society> }}")
    ask.setReturnFormat(JSON)
    check(ask.query().convert()["boolean"] is True, "ASK (JSON) true")
    ask.setQuery(f"ASK {{ <{society}> <{W4}memberOf> <{society}> }}")
    ask.setReturnFormat(XML)
    res = ask.query().convert()
    value = res.getElementsByTagName("boolean")[0].firstChild.data
    check(value == "false", "ASK (XML) false")

    con = SPARQLWrapper(endpoint)
    con.setQuery(f"CONSTRUCT {{ ?m <{W4}memberOf> ?s }} WHERE {{ ?m <{W4}memberOf> ?s }}")
    con.setReturnFormat(TURTLE)
    g = rdflib.Graph()
    g.parse(data=con.query().convert(), format="turtle")
    check(len(g) == len(rows), f"CONSTRUCT (Turtle) parsed by rdflib: {len(g)} triples")
    con.setReturnFormat(XML)
    g2 = con.query().convert()
    check(isinstance(g2, rdflib.Graph) and len(g2) == len(rows), "CONSTRUCT (RDF/XML) as an rdflib Graph")

    store = SPARQLStore(endpoint, returnFormat="json")
    graph = rdflib.Graph(store=store)
    n = len(list(graph.query(f"SELECT ?m WHERE {{ ?m <{W4}memberOf> ?s }}")))
    check(n == len(rows), "rdflib SPARQLStore SELECT")
    triples = list(graph.triples((rdflib.URIRef(society), rdflib.RDF.type, None)))
    check(len(triples) == 1, "rdflib SPARQLStore triple pattern")

    upd = SPARQLWrapper(endpoint)
    upd.setMethod("POST")
    upd.setQuery(f"INSERT DATA {{ <{society}> <{W4}memberOf> <urn:x> }}")
    try:
        upd.query()
        check(False, "UPDATE refused")
    except Exception as e:  # SPARQLWrapper raises on the 401 answer
        check("401" in str(e) or "Unauthorized" in str(e) or "W4_ERR" in str(e), f"UPDATE refused ({type(e).__name__})")
    print("sparql client: all checks passed")


if __name__ == "__main__":
    main()
