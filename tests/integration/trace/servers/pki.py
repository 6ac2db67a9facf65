"""A throwaway PKI made with the openssl CLI: a test CA, a good server certificate for
localhost and 127.0.0.1, an expired one, one for another name, and one from a CA the
client does not trust."""
import subprocess
from pathlib import Path


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(dirpath: Path, name: str):
    d = dirpath / name
    d.mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", f"/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    (d / "ca.cnf").write_text(f"""
[ca]
default_ca = ca_section
[ca_section]
dir = {d}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = copy
[policy_any]
commonName = supplied
""")
    return d


def _leaf(ca: Path, out: Path, name: str, cn: str, sans: str, start: str, end: str):
    key, csr, pem = out / f"{name}.key", out / f"{name}.csr", out / f"{name}.pem"
    _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}",
         "-addext", f"subjectAltName={sans}", cwd=out)
    _run("ca", "-batch", "-config", str(ca / "ca.cnf"), "-in", str(csr), "-out", str(pem),
         "-startdate", start, "-enddate", end, "-notext", cwd=out)
    return {"cert": str(pem), "key": str(key)}


def make_pki(dirpath: Path):
    dirpath = Path(dirpath)
    ca = _ca(dirpath, "hop-test-ca")
    other = _ca(dirpath, "unknown-ca")
    valid = ("20200101000000Z", "20491231000000Z")
    return {
        "ca": str(ca / "ca.pem"),
        "good": _leaf(ca, dirpath, "good", "localhost", "DNS:localhost,IP:127.0.0.1", *valid),
        "expired": _leaf(ca, dirpath, "expired", "localhost", "DNS:localhost,IP:127.0.0.1",
                         "20200101000000Z", "20200102000000Z"),
        "wrong_name": _leaf(ca, dirpath, "wrong_name", "elsewhere.example",
                            "DNS:elsewhere.example", *valid),
        "unknown_ca": _leaf(other, dirpath, "unknown_ca", "localhost",
                            "DNS:localhost,IP:127.0.0.1", *valid),
    }
