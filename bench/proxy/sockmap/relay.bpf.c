// sk_skb verdict program: every skb received on a socket in `peers` is redirected to the EGRESS of
// the socket stored under the receiving socket's own cookie (i.e. its peer). Stats in `stats`.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, 65536);
  __type(key, __u64);   // cookie of the RECEIVING socket
  __type(value, __u64); // fd of its PEER (on update); the kernel stores the peer socket
} peers SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps"); // 0: redirected skbs, 1: redirected bytes, 2: no peer (passed to local socket), 3: cookie==0

SEC("sk_skb")
int relay_verdict(struct __sk_buff *skb) {
  // a zero-length skb (a bare FIN) redirected to the peer's egress makes the kernel's send
  // backlog report EPIPE on the peer socket (skb_send_sock returns 0); drop it: user space sees
  // the FIN as EPOLLRDHUP and tears down the pair
  if (skb->len == 0) return SK_DROP;
  __u64 key = bpf_get_socket_cookie(skb);
  __u32 i;
  __u64 *c;
  if (key == 0) {
    i = 3;
    c = bpf_map_lookup_elem(&stats, &i);
    if (c) *c += 1;
  }
  if (bpf_sk_redirect_hash(skb, &peers, &key, 0) == SK_PASS) {
    i = 0;
    c = bpf_map_lookup_elem(&stats, &i);
    if (c) *c += 1;
    i = 1;
    c = bpf_map_lookup_elem(&stats, &i);
    if (c) *c += skb->len;
    return SK_PASS;
  }
  i = 2;
  c = bpf_map_lookup_elem(&stats, &i);
  if (c) *c += 1;
  return SK_PASS; // no peer: leave the data on this socket (readable by user space)
}

char _license[] SEC("license") = "GPL";

// only for MODE=strparser (BPF_SK_SKB_STREAM_PARSER): every skb is one complete "message"
SEC("sk_skb")
int relay_parser(struct __sk_buff *skb) { return skb->len; }
