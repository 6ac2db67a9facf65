"""nginx.conf for the trace tests: every path and port under the test's own temp dir."""


def render(prefix, ports, backend_port, certs):
    tls_servers = []
    for name in ("h2", "expired", "wrong_name", "unknown_ca"):
        c = certs["good" if name == "h2" else name]
        tls_servers.append(f"""
    server {{
        listen 127.0.0.1:{ports[name]} ssl http2;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {c['cert']};
        ssl_certificate_key {c['key']};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}""")
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_timeout 30s;
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{ports['http']};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
    {''.join(tls_servers)}
}}
"""
