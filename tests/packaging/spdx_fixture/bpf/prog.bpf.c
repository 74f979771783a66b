// SPDX-License-Identifier: Apache-2.0
char LICENSE[] SEC("license") = "GPL";
