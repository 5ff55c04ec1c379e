#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpus, fuzz/seeds/<target>/, from this script alone.

SIP: messages after RFC 4475 ("SIP Torture Test Messages"), written here in the RFC's
own notation (<allOneLine> joins lines, <hex>..</hex> is raw bytes, lines end in CRLF),
and the exchanges the e2e tests have with sipp (responses use $CALLID, $BRANCH,
$FROMTAG, $CSEQ, which the sip_message target fills from its INVITE; `\\0\\0` separates
datagrams). SDP as sipp, baresip and Linphone send it; the API's HTTP requests; RTP and
RTCP packets; jitter-buffer event streams; board/example.toml; call-log samples.

Run from the repository root: python3 scripts/fuzz-seeds.py
"""
import os
import re
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def rfc(text):
    """RFC 4475 notation -> bytes: <allOneLine> blocks joined, <hex> decoded, CRLF."""
    def one_line(m):
        return "".join(l.strip("\n") for l in m.group(1).strip("\n").split("\n"))
    text = re.sub(r"<allOneLine>\n?(.*?)</allOneLine>\n?", lambda m: one_line(m) + "\n",
                  text, flags=re.S)
    out = bytearray()
    parts = re.split(r"<hex>(.*?)</hex>", text, flags=re.S)
    for i, part in enumerate(parts):
        if i % 2:
            out += bytes.fromhex(part.replace(" ", ""))
        else:
            out += part.replace("\n", "\r\n").encode("latin-1")
    return bytes(out)


TORTURE = {
    # 3.1.1.1 A short tortuous INVITE (wsinv)
    "wsinv": """INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.3
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.1.2 Wide range of valid characters (intmeth)
    "intmeth": """<allOneLine>
!interesting-Method0123456789_*+`.%indeed'~
 sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*
 :&it+has=1,weird!*pas$wo~d_too.(doesn't-it)
 @example.com SIP/2.0
</allOneLine>
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
<allOneLine>
To: "BEL:\\<hex>07</hex> NUL:\\<hex>00</hex> DEL:\\<hex>7F</hex>"
 <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>
</allOneLine>
<allOneLine>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>
 ;fromParam''~+*_!.-%=
 "\\"<hex>D1B0D0B0D0B9</hex>\\""
 ;tag=_token~1'+`*%!-.
</allOneLine>
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
<allOneLine>
extensionHeader-!.%*+_`'~:
 <hex>EFBBBF</hex>\\u5927\\u5B66
</allOneLine>
Content-Length: 0

""",
    # 3.1.1.3 Valid use of the % escaping mechanism (esc01)
    "esc01": """INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
To: sip:%75se%72@example.com
From: <sip:I%20have%20spaces@example.net>;tag=938
Max-Forwards: 87
i: esc01.239409asdfakjkn23onasd0-3234
CSeq: 234234 INVITE
Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw
C: application/sdp
Contact:
  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.1.4 Escaped nulls in URIs (escnull)
    "escnull": """REGISTER sip:example.com SIP/2.0
To: sip:null-%00-null@example.com
From: sip:null-%00-null@example.com;tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw
Contact: <sip:%00@host5.example.com>
Contact: <sip:%00%00@host5.example.com>
L:0

""",
    # 3.1.1.6 Message with no LWS between display name and < (lwsdisp)
    "lwsdisp": """OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

""",
    # 3.1.1.8 Extra trailing octets in a UDP datagram (dblreq)
    "dblreq": """REGISTER sip:example.com SIP/2.0
To: sip:j.user@example.com
From: sip:j.user@example.com;tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@host.example.com
CSeq: 8 REGISTER
Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492
Content-Length: 0


INVITE sip:joe@example.com SIP/2.0
t: sip:joe@example.com
From: sip:caller@example.net;tag=141334
Max-Forwards: 8
Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m =video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.1.9 Semicolon-separated parameters in URI user part (semiuri)
    "semiuri": """OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
To: sip:j_user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Call-ID: semiuri.0ha0isndaksdj
CSeq: 8 OPTIONS
Accept: application/sdp, application/pkcs7-mime,
        multipart/mixed, multipart/signed,
        message/sip, message/sipfrag
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
l: 0

""",
    # 3.1.1.11 Multipart MIME message (mpart01, shortened)
    "unreason": """SIP/2.0 200 = 2**3 * 5**2 <hex>D0BDD0BE20D181D182D0BE20D0B4D0B5D0B2D18FD0BDD0BED181D182D0BE20D0B4D0B5D0B2D18FD182D18C202D20D0BFD180D0BED181D182D0BED0B5</hex>
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.198
s=-
c=IN IP4 192.0.2.198
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.1.13 Empty reason phrase (noreason)
    "noreason": """SIP/2.0 100<hex>20</hex>
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""",
    # 3.1.2.1 Extraneous header field separators (badinv01)
    "badinv01": """INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.2.2 Content length larger than message (clerr)
    "clerr": """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.155
s=-
c=IN IP4 192.0.2.155
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.2.3 Negative Content-Length (ncl)
    "ncl": """INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.53
s=-
c=IN IP4 192.0.2.53
t=0 0
m=audio 49217 RTP/AVP 0
""",
    # 3.1.2.4 Request scalar fields with overlarge values (scalar02)
    "scalar02": """REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1<repeat count=100>0</repeat>
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

""",
    # 3.1.2.5 Response scalar fields with overlarge values (scalarlg)
    "scalarlg": """SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

""",
    # 3.1.2.6 Unterminated quoted string in display name (quotbal)
    "quotbal": """INVITE sip:user@example.com SIP/2.0
To: "Mr. J. User <sip:j.user@example.com>
From: sip:caller@example.net;tag=93334
Max-Forwards: 10
Call-ID: quotbal.aksdj
Contact: <sip:caller@host59.example.net>
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234
Content-Type: application/sdp
Content-Length: 152

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.15
s=-
c=IN IP4 192.0.2.15
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.2.7 <> enclosing Request-URI (ltgtruri)
    "ltgtruri": """INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 159

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=3149328700 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.2.8 Malformed SIP Request-URI, embedded LWS (lwsruri)
    "lwsruri": """INVITE sip:user@example.com; lr SIP/2.0
To: sip:user@example.com;tag=3xfe-9921883-z9f
From: sip:caller@example.net;tag=231413434
Max-Forwards: 5
Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423
CSeq: 2130706432 INVITE
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395
Contact: <sip:caller@host1.example.net>
Content-Type: application/sdp
Content-Length: 159

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=3149328700 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.2.10 Trailing LWS in Request-Line (trws)
    "trws": """OPTIONS sip:remote-target@example.com SIP/2.0<hex>2020</hex>
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

""",
    # 3.1.2.12 Invalid time zone in Date header (baddate)
    "baddate": """INVITE sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=2234923
Max-Forwards: 70
Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234
CSeq: 1392934 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
Date: Fri, 01 Jan 2010 16:00:00 EST
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 150

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0 12
m=video 3227 RTP/AVP 31
a=rtpmap:31 LPC
""",
    # 3.1.2.15 Spaces within addr-spec (badaspec)
    "badaspec": """OPTIONS sip:user@example.org SIP/2.0
Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234
Max-Forwards: 70
From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423
To: "Watson, Thomas" < sip:t.watson@example.org >
Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3
Accept: application/sdp
CSeq: 3923239 OPTIONS
l: 0

""",
    # 3.1.2.17 Unknown protocol version (badvers)
    "badvers": """OPTIONS sip:t.watson@example.org SIP/7.0
Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw
Max-Forwards:     70
From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe
To:      T. Watson <sip:t.watson@example.org>
Call-ID: badvers.31417@c.example.com
CSeq:    1 OPTIONS
l: 0

""",
    # 3.1.2.18 Start line and CSeq method mismatch (mismatch01)
    "mismatch01": """OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

""",
    # 3.1.2.19 Overlarge response code (bigcode)
    "bigcode": """SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""",
    # 3.3.1 Missing transaction identifier (inv2543, RFC 2543 style)
    "inv2543": """INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.15
From: <sip:UserA@example.com>
To: <sip:UserB@example.com>
Call-ID: 1@192.0.2.15
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length: 0

""",
}

SIPP_SDP = """v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
"""

BARESIP_SDP = """v=0
o=- 1822346209 3016383405 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 10002 RTP/AVP 96 9 0 8 101
b=AS:64
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1;useinbandfec=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
a=rtcp-mux
"""

LINPHONE_SDP = """v=0
o=1002 3029 1853 IN IP4 127.0.0.1
s=Talk
c=IN IP4 127.0.0.1
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
m=audio 7078 RTP/AVP 96 9 0 8 101
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:101 telephone-event/8000
a=rtcp-fb:* trr-int 1000
a=rtcp-fb:* ccm tmmbr
m=video 0 RTP/AVP 96
"""


def sip_response(code, reason, body="", to_tag=";tag=peer1"):
    head = f"""SIP/2.0 {code} {reason}
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=$BRANCH;rport=5060
From: <sip:trtc-sipgw@127.0.0.1>;tag=$FROMTAG
To: <sip:1002@127.0.0.1:5062>{to_tag}
Call-ID: $CALLID
CSeq: $CSEQ
Contact: <sip:1002@127.0.0.1:5062>
"""
    if body:
        head += "Content-Type: application/sdp\n"
    head += f"Content-Length: {len(body.replace(chr(10), chr(13) + chr(10)))}\n\n{body}"
    return rfc(head)


def sip_request(method, cseq, body=""):
    head = f"""{method} sip:trtc-sipgw@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-peer-{cseq}
From: <sip:1002@127.0.0.1:5062>;tag=peer1
To: <sip:trtc-sipgw@127.0.0.1>;tag=$FROMTAG
Call-ID: $CALLID
CSeq: {cseq} {method}
Max-Forwards: 70
"""
    if body:
        head += "Content-Type: application/sdp\n"
    head += f"Content-Length: {len(body.replace(chr(10), chr(13) + chr(10)))}\n\n{body}"
    return rfc(head)


def sip_seeds():
    seeds = {f"rfc4475-{name}": rfc(text) for name, text in TORTURE.items()}
    # <repeat count=N>x</repeat> as in the RFC
    for name, data in list(seeds.items()):
        seeds[name] = re.sub(rb"<repeat count=(\d+)>(.*?)</repeat>",
                             lambda m: m.group(2) * int(m.group(1)), data)
    sep = b"\0\0"
    seeds["sipp-answer"] = sep.join([
        sip_response(100, "Trying", to_tag=""),
        sip_response(180, "Ringing"),
        sip_response(200, "OK", SIPP_SDP),
        sip_request("BYE", 2),
    ])
    seeds["sipp-early-media"] = sep.join([
        sip_response(183, "Session Progress", BARESIP_SDP),
        sip_response(200, "OK", BARESIP_SDP),
        sip_request("INFO", 2, ""),
        sip_request("INVITE", 3, LINPHONE_SDP),
    ])
    seeds["busy"] = sip_response(486, "Busy Here")
    seeds["auth"] = rfc("""SIP/2.0 407 Proxy Authentication Required
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=$BRANCH
From: <sip:trtc-sipgw@127.0.0.1>;tag=$FROMTAG
To: <sip:1002@127.0.0.1:5062>;tag=k1
Call-ID: $CALLID
CSeq: $CSEQ
Proxy-Authenticate: Digest realm="127.0.0.1", nonce="5f1a0c2b", qop="auth", algorithm=SHA-256
Content-Length: 0

""")
    seeds["redirect"] = rfc("""SIP/2.0 302 Moved Temporarily
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=$BRANCH
From: <sip:trtc-sipgw@127.0.0.1>;tag=$FROMTAG
To: <sip:1002@127.0.0.1:5062>;tag=r1
Call-ID: $CALLID
CSeq: $CSEQ
Contact: <sip:1003@127.0.0.1:5064>;q=0.7, <sip:1004@127.0.0.1:5066>
Content-Length: 0

""")
    seeds["options"] = rfc("""OPTIONS sip:trtc-sipgw@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-opt1
From: <sip:ping@127.0.0.1>;tag=o1
To: <sip:trtc-sipgw@127.0.0.1>
Call-ID: opt1@127.0.0.1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

""")
    seeds["register"] = rfc("""REGISTER sip:127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK-reg1
From: <sip:2001@127.0.0.1>;tag=r1
To: <sip:2001@127.0.0.1>
Call-ID: reg1@127.0.0.2
CSeq: 1 REGISTER
Contact: <sip:2001@127.0.0.2:5070>;expires=3600
Authorization: Digest username="2001", realm="trtc-sipgw", nonce="abc", uri="sip:127.0.0.1", response="00000000000000000000000000000000", algorithm=MD5
Max-Forwards: 70
Content-Length: 0

""")
    return seeds


def sdp_seeds():
    return {
        "sipp": rfc(SIPP_SDP),
        "baresip": rfc(BARESIP_SDP),
        "linphone": rfc(LINPHONE_SDP),
        "hold": rfc(SIPP_SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0") + "a=sendonly\n"),
        "srtp-and-rtp": rfc(SIPP_SDP.replace("m=audio 6000 RTP/AVP", "m=audio 6002 RTP/SAVP")
                            + "m=audio 6000 RTP/AVP 18\na=rtpmap:18 G729/8000\na=fmtp:18 annexb=no\n"),
        "ipv6": rfc(SIPP_SDP.replace("IN IP4 127.0.0.1", "IN IP6 ::1")),
    }


def http(method, target, body=b"", headers=()):
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    for h in headers:
        head += h + "\r\n"
    if body or method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def http_seeds():
    startup = (b'{"phonenumber":"1002","ttl":60,"callStateNotifyUrl":"http://127.0.0.1:9000/hook",'
               b'"trtcParams":{"sdkAppId":1400000001,"userSig":"x","roomId":1234,"userId":"phone1"}}')
    signed = "?api_key=23456789&expire_at=1790000060&signature=0f0e0d0c0b0a09080706050403020100"
    return {
        "startup": http("POST", "/trtc/startup", startup),
        "startup-signed": http("POST", "/v2205/trtc/startup" + signed, startup),
        "startup-str-room": http("POST", "/trtc/startup", startup.replace(
            b'"roomId":1234', b'"strRoomId":"room-a"')),
        "callstate": http("GET", "/trtc/callstate?id=live" + signed.replace("?", "&")),
        "shutdown": http("POST", "/trtc/shutdown", b'{"id":"live"}'),
        "dtmf": http("POST", "/trtc/dtmf", b'{"id":"live","digits":"12#"}'),
        "callstats": http("GET", "/trtc/callstats?id=live"),
        "calls": http("GET", "/trtc/calls"),
        "healthz": http("GET", "/healthz"),
        "metrics": http("GET", "/metrics", headers=("Connection: close",)),
        "openapi": http("GET", "/openapi.json"),
        "expect": http("POST", "/trtc/startup", startup, ("Expect: 100-continue",)),
        "chunked": http("POST", "/trtc/startup", b"", ("Transfer-Encoding: chunked",)),
    }


def rtp(pt, seq, ts, ssrc, payload, marker=False, csrc=(), ext=None, pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrc)
    out = struct.pack("!BBHII", b0, pt | (0x80 if marker else 0), seq, ts, ssrc)
    for c in csrc:
        out += struct.pack("!I", c)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


def rtp_seeds():
    sr = struct.pack("!BBHI", 0x81, 200, 12, 0x11223344) + struct.pack(
        "!IIIII", 0xE6F2A1B0, 0x12345678, 160000, 100, 16000) + struct.pack(
        "!IIIIII", 0x12345678, 0x00000003, 1000, 20, 0xE6F2A1B0, 65536)
    rr = struct.pack("!BBHI", 0x81, 201, 7, 0x11223344) + struct.pack(
        "!IIIIII", 0x12345678, 0x01000002, 1000, 20, 0xE6F2A1B0, 65536)
    bye = struct.pack("!BBHI", 0x81, 203, 1, 0x11223344)
    sdes = struct.pack("!BBHI", 0x81, 202, 3, 0x11223344) + b"\x01\x04host\x00\x00"
    return {
        "pcmu": rtp(0, 1, 160, 0x11223344, b"\xff" * 160, marker=True),
        "opus": rtp(96, 65535, 960, 0x11223344, b"\x78" + b"\x01" * 60),
        "csrc-ext-pad": rtp(8, 7, 320, 9, b"\xd5" * 160, csrc=(1, 2), ext=b"\x10\xaa\x00\x00", pad=4),
        "dtmf": rtp(101, 9, 480, 0x11223344, b"\x05\x8a\x03\x20"),
        "rtcp-sr": sr,
        "rtcp-rr-bye": rr + bye,
        "rtcp-sdes": sdes,
    }


def jitter_seeds():
    def push(seq, ts, step=20, length=80):
        return bytes([0, seq >> 8, seq & 0xFF, (ts >> 24) & 0xFF, (ts >> 16) & 0xFF,
                      (ts >> 8) & 0xFF, length, step])
    pop = bytes([0x80, 0, 0, 0, 0, 0, 0, 20])
    steady = b"".join(push(i, i * 160 << 8) + pop for i in range(50))
    reordered = b"".join(push(s, s * 160 << 8, step=7) + pop for s in [1, 3, 2, 5, 4, 6, 9, 8, 7])
    wrap = b"".join(push((65530 + i) & 0xFFFF, (0xFFFFF0 + i * 160) << 8) + pop for i in range(12))
    return {"steady-g711": b"\x08" + steady, "reordered-adaptive": b"\x0b" + reordered,
            "wrap-packet-mode": b"\x01" + wrap}


def config_seeds():
    seeds = {}
    example = os.path.join(ROOT, "board", "example.toml")
    with open(example, "rb") as f:
        seeds["board-example"] = f.read()
    seeds["minimal"] = b'[sip.outbound]\nuri = "sip:{number}@127.0.0.1:5062"\n'
    seeds["keys"] = (b'[http]\nlisten = "0.0.0.0:8080"\n[http.api_keys]\n"23456789" = "secret"\n'
                     b'[policy]\nallow = ["1*"]\n[calls]\nmax_calls = 4\nhistory_max = 10\n')
    return seeds


def call_log_seeds():
    line = "{id} {t:.6f} 2026-01-01T00:00:0{s}.000000+00:00 {n} {state} {code}{reason}\n"
    rec = lambda id, t, s, n, state, code=0, reason="": line.format(
        id=id, t=t, s=s, n=n, state=state, code=code, reason=(" " + reason) if reason else "")
    done = rec("a1", 1.0, 0, 1, "CALLING") + rec("a1", 2.0, 1, 6, "DISCONNCTD", 486, "Busy Here")
    live = rec("b2", 3.0, 2, 1, "CALLING") + "b2 3.100000 notify http://127.0.0.1:9000/hook\n"
    return {
        "done-and-live": (done + live).encode(),
        "torn-last": (done + live)[:-7].encode(),
        "damaged-middle": done.encode() + b"a1 2.5 \xff\xfe garbage\n" + live.encode(),
    }


def main():
    groups = {
        "sip_message": sip_seeds(),
        "sdp": sdp_seeds(),
        "http_request": http_seeds(),
        "rtp_rtcp": rtp_seeds(),
        "jitter_buffer": jitter_seeds(),
        "config": config_seeds(),
        "call_log": call_log_seeds(),
    }
    total = 0
    for target, seeds in groups.items():
        d = os.path.join(SEEDS, target)
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            os.remove(os.path.join(d, name))
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
    print(f"fuzz-seeds: {sum(len(s) for s in groups.values())} seeds, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
