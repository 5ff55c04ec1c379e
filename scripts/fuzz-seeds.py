#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, fuzz/seeds/<target>/, from the messages below.

Why a script: the seeds are reviewable text here, not opaque files. RFC 4475's SIP
torture messages are written in the RFC's own notation (<allOneLine>...</allOneLine>
joins lines, <hex>..</hex> is raw bytes, <repeat count=N>..</repeat> repeats) and
expanded here; the other seeds are what the end-to-end tests exchange with sipp and the
API clients (INVITE/200/BYE/OPTIONS/REGISTER with SDP, /trtc requests), RTP/RTCP
packets, board/example.toml and call-log samples. Re-run after editing:
    python3 scripts/fuzz-seeds.py
"""
import hashlib
import hmac
import base64
import os
import re
import shutil
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")


def rfc(text):
    """RFC 4475 notation -> bytes: CRLF line ends, <allOneLine>, <hex>, <repeat>."""
    text = text.lstrip("\n")

    def one_line(m):
        return "".join(line.strip("\n") for line in m.group(1).strip("\n").split("\n"))

    text = re.sub(r"<allOneLine>\n?(.*?)</allOneLine>\n?", lambda m: one_line(m) + "\n",
                  text, flags=re.S)
    text = re.sub(r'<repeat count=(\d+)>(.*?)</repeat>',
                  lambda m: m.group(2) * int(m.group(1)), text, flags=re.S)
    out = bytearray()
    pos = 0
    for m in re.finditer(r"<hex>([0-9A-Fa-f]*)</hex>", text):
        out += text[pos:m.start()].replace("\n", "\r\n").encode()
        out += bytes.fromhex(m.group(1))
        pos = m.end()
    out += text[pos:].replace("\n", "\r\n").encode()
    return bytes(out)


def lpc(ip):
    """The SDP body most of RFC 4475's INVITEs carry."""
    return (f"v=0\no=mhandley 29739 7272939 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\n"
            "m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n")


# RFC 4475 section 3 (a selection of valid and invalid messages), by their file names.
TORTURE = {
    "wsinv": """
INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
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
    "intmeth": """
<allOneLine>
!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)
&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)
@example.com SIP/2.0
</allOneLine>
Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~
<allOneLine>
To: "BEL:\\<hex>07</hex> NUL:\\<hex>00</hex> DEL:\\<hex>7F</hex>" <sip:1_unusual.URI~(to-be!sure)
&isn't+it$/crazy?,/;;*@example.com>
</allOneLine>
<allOneLine>
From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=
"<hex>D180D0B0D0B1D0BED182D0B0D18ED189D0B8D0B9</hex>";tag=_token~1'+`*%!-.
</allOneLine>
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
<allOneLine>
extensionHeader-!.%*+_`'~:<hex>EFBBBFE5A4A7E5819CE99BBB</hex>
</allOneLine>
Content-Length: 0

""",
    "esc01": """
INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0
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

""" + lpc("192.0.2.1"),
    "escnull": """
REGISTER sip:example.com SIP/2.0
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
    "esc02": """
RE%47IST%45R sip:registrar.example.com SIP/2.0
To: "%Z%45" <sip:resource@example.com>
From: "%Z%45" <sip:resource@example.com>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209823
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@host1.example.com>
C%6Fntact: <sip:alias2@host2.example.com>
Contact: <sip:alias3@host3.example.com>
l: 0

""",
    "lwsdisp": """
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: caller<sip:caller@example.com>;tag=323
Max-Forwards: 70
Call-ID: lwsdisp.1234abcd@funky.example.com
CSeq: 60 OPTIONS
Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw
l: 0

""",
    "longreq": """
INVITE sip:user@example.com SIP/2.0
To: "I have a user name of <repeat count=10>extreme</repeat> proportion" <sip:user@example.com:6000;unknownparam1=very<repeat count=20>long</repeat>value;longparam<repeat count=25>name</repeat>=shortvalue;very<repeat count=25>long</repeat>ParameterNameWithNoValue>
F: sip:<repeat count=5>amazinglylongcallername</repeat>@example.net;tag=12<repeat count=50>982</repeat>424;unknownheaderparam<repeat count=20>name</repeat>=unknowheaderparam<repeat count=15>value</repeat>;unknownValueless<repeat count=10>paramname</repeat>
Call-ID: longreq.one<repeat count=20>really</repeat>longcallid
CSeq: 3882340 INVITE
Unknown-<repeat count=20>Long</repeat>-Name: unknown-<repeat count=20>long</repeat>-value; unknown-<repeat count=20>long</repeat>-parameter-name = unknown-<repeat count=20>long</repeat>-parameter-value
Via: SIP/2.0/TCP sip33.example.com
v: SIP/2.0/TCP sip32.example.com
V: SIP/2.0/TCP sip31.example.com
Via: SIP/2.0/TCP sip30.example.com
ViA: SIP/2.0/TCP sip29.example.com
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKlongreq
Max-Forwards: 70
Contact: <sip:amazinglylongcallername@host5.example.net>
Content-Type: application/sdp
l: 150

""" + lpc("192.0.2.1"),
    "dblreq": """
REGISTER sip:example.com SIP/2.0
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
    "semiuri": """
OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0
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
    "unreason": """
SIP/2.0 200 = 2**3 * 5**2 <hex>D0BDD0BE20D181D182D0BE20D0B4D0B5D0B2D18FD0BDD0BED181D182D0BE20D0B4D0B5D0B2D18FD182D18C202D20D0BFD180D0BED181D182D0BED0B5</hex>
Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:user@example.com;tag=11141343
To: sip:user@example.edu;tag=2229
Content-Length: 154
Content-Type: application/sdp
Contact: <sip:user@host198.example.com>

""" + lpc("192.0.2.198"),
    "noreason": """
SIP/2.0 100<hex>20</hex>
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""",
    "badinv01": """
INVITE sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=134161461246
Max-Forwards: 7
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Via: SIP/2.0/UDP 192.0.2.15;;,;,,
Contact: "Joe" <sip:joe@example.org>;;;;
Content-Length: 152
Content-Type: application/sdp

""" + lpc("192.0.2.15"),
    "clerr": """
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 80
To: sip:j.user@example.com
From: sip:caller@example.net;tag=93942939o2
Contact: <sip:caller@hungry.example.net>
Call-ID: clerr.0ha0isndaksdjweiafasdk3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523
Content-Type: application/sdp
Content-Length: 9999

""" + lpc("192.0.2.155"),
    "scalar02": """
REGISTER sip:example.com SIP/2.0
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3
To: <sip:user@example.com>
From: <sip:user@example.com>;tag=239232jh3
CSeq: 36893488147419103232 REGISTER
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
Max-Forwards: 300
Expires: 1<repeat count=20>0</repeat>
Contact: <sip:user@host129.example.com>
  ;expires=280297596632815
Content-Length: 0

""",
    "scalarlg": """
SIP/2.0 503 Service Unavailable
Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:user@example.com>
From: <sip:other@example.net>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0

""",
    "ltgtruri": """
INVITE <sip:user@example.com> SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=39291
Max-Forwards: 23
Call-ID: ltgtruri.1@192.0.2.5
CSeq: 1 INVITE
Via: SIP/2.0/UDP 192.0.2.5
Contact: <sip:caller@host5.example.net>
Content-Type: application/sdp
Content-Length: 159

""" + lpc("192.0.2.5"),
    "ncl": """
INVITE sip:user@example.com SIP/2.0
Max-Forwards: 254
To: sip:j.user@example.com
From: sip:caller@example.net;tag=32394234
Call-ID: ncl.0ha0isndaksdj2193423r542w35
CSeq: 0 INVITE
Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw
Contact: <sip:caller@example53.example.net>
Content-Type: application/sdp
Content-Length: -999

""" + lpc("192.0.2.53"),
    "bigcode": """
SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:user@example.com>;tag=39ansfi3
To: <sip:user@example.edu>;tag=902jndnke3
Content-Length: 0
Contact: <sip:user@host105.example.com>

""",
    "zeromf": """
OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.net;tag=3ghsd41
Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas
CSeq: 39234321 OPTIONS
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw
Max-Forwards: 0
l: 0

""",
    "mismatch01": """
OPTIONS sip:user@example.com SIP/2.0
To: sip:j.user@example.com
From: sip:caller@example.net;tag=34525
Max-Forwards: 6
Call-ID: mismatch01.dj0234sxdfl3
CSeq: 8 INVITE
Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw
l: 0

""",
    "inv2543": """
INVITE sip:UserB@example.com SIP/2.0
Via: SIP/2.0/UDP iftgw.example.com
From: <sip:+13035551111@ift.client.example.net;user=phone>
Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>
To: sip:+16505552222@ss1.example.net;user=phone
Call-ID: inv2543.1717@ift.client.example.com
CSeq: 56 INVITE
Content-Type: application/sdp

v=0
o=mhandley 29739 7272939 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 49217 RTP/AVP 0
""",
    "trws": """
OPTIONS sip:remote-target@example.com SIP/2.0<hex>2020</hex>
Via: SIP/2.0/TCP host1.examle.com;branch=z9hG4bK299342093
To: <sip:remote-target@example.com>
From: <sip:local-resource@example.com>;tag=329429089
Call-ID: trws.oicu34958239neffasdhr2345r
Accept: application/sdp
CSeq: 238923 OPTIONS
Max-Forwards: 70
Content-Length: 0

""",
}

PEER_SDP = """v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendrecv
"""

SDPS = {
    "pcmu": PEER_SDP,
    "g722": PEER_SDP.replace("0 8 101", "9 101").replace("a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000",
                                                          "a=rtpmap:9 G722/8000"),
    "opus": PEER_SDP.replace("0 8 101", "111 101").replace(
        "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000",
        "a=rtpmap:111 opus/48000/2\na=fmtp:111 useinbandfec=1; minptime=10"),
    "hold": PEER_SDP.replace("sendrecv", "sendonly"),
    "hold2543": PEER_SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"),
    "two-streams": PEER_SDP + "m=video 6002 RTP/AVP 31\na=rtpmap:31 H261/90000\n",
    "rtcp-attr": PEER_SDP + "a=rtcp:6005 IN IP4 127.0.0.1\n",
    "ipv6": PEER_SDP.replace("IN IP4 127.0.0.1", "IN IP6 ::1"),
    "savp": PEER_SDP.replace("RTP/AVP", "RTP/SAVP"),
    "no-common": PEER_SDP.replace("0 8 101", "18").replace(
        "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000", "a=rtpmap:18 G729/8000"),
}


def sip(first, call_id, cseq, extra="", body="", to_tag=""):
    to = "<sip:1234@127.0.0.1:5060>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{first}\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-{cseq}-1;rport\n"
            f"From: <sip:gw@10.0.0.1>;tag=gwtag1\nTo: {to}\nCall-ID: {call_id}\n"
            f"CSeq: {cseq}\nContact: <sip:1234@127.0.0.1:5060>\nMax-Forwards: 70\n"
            "User-Agent: sipp\n" + extra)
    body_bytes = body.replace("\n", "\r\n").encode()
    if body:
        head += "Content-Type: application/sdp\n"
    head += f"Content-Length: {len(body_bytes)}\n\n"
    return head.replace("\n", "\r\n").encode() + body_bytes


SIPP = {
    "100-trying": sip("SIP/2.0 100 Trying", "c1@10.0.0.1", "1 INVITE"),
    "180-ringing": sip("SIP/2.0 180 Ringing", "c1@10.0.0.1", "1 INVITE", to_tag="sipp1"),
    "183-early": sip("SIP/2.0 183 Session Progress", "c1@10.0.0.1", "1 INVITE", body=PEER_SDP,
                     to_tag="sipp1"),
    "200-invite": sip("SIP/2.0 200 OK", "c1@10.0.0.1", "1 INVITE", body=PEER_SDP, to_tag="sipp1"),
    "401-invite": sip("SIP/2.0 401 Unauthorized", "c1@10.0.0.1", "1 INVITE", to_tag="sipp1",
                      extra='WWW-Authenticate: Digest realm="sipp", nonce="abc123", algorithm=MD5, qop="auth"\n'),
    "486-busy": sip("SIP/2.0 486 Busy Here", "c1@10.0.0.1", "1 INVITE", to_tag="sipp1"),
    "302-redirect": sip("SIP/2.0 302 Moved Temporarily", "c1@10.0.0.1", "1 INVITE", to_tag="sipp1",
                        extra="Contact: <sip:5678@127.0.0.1:5062>\n"),
    "bye": sip("BYE sip:gw@10.0.0.1:5060 SIP/2.0", "c1@10.0.0.1", "2 BYE", to_tag="sipp1"),
    "reinvite-hold": sip("INVITE sip:gw@10.0.0.1:5060 SIP/2.0", "c1@10.0.0.1", "3 INVITE",
                         body=SDPS["hold"], to_tag="sipp1"),
    "options": sip("OPTIONS sip:gw@10.0.0.1:5060 SIP/2.0", "o1@127.0.0.1", "1 OPTIONS"),
    "register": sip("REGISTER sip:10.0.0.1 SIP/2.0", "r1@127.0.0.1", "1 REGISTER",
                    extra="Expires: 3600\n"),
    "invite-in": sip("INVITE sip:gw@10.0.0.1:5060 SIP/2.0", "in1@127.0.0.1", "1 INVITE",
                     body=PEER_SDP),
    "info-dtmf": sip("INFO sip:gw@10.0.0.1:5060 SIP/2.0", "c1@10.0.0.1", "4 INFO", to_tag="sipp1"),
    "cancel": sip("CANCEL sip:1234@127.0.0.1:5060 SIP/2.0", "c1@10.0.0.1", "1 CANCEL"),
    "keepalive": b"\r\n\r\n",
}

KEY, SECRET, EXPIRE = "fuzzkey", "fuzzsecret", "1900000000"
SIG = base64.urlsafe_b64encode(
    hmac.new(SECRET.encode(), (KEY + EXPIRE).encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
SIGNED = f"api_key={KEY}&expire_at={EXPIRE}&signature={SIG}"
STARTUP = ('{"phonenumber":"+8613800138000","ttl":60,"trtcParams":{"sdkAppId":1400000001,'
           '"userSig":"x","roomId":1234,"userId":"phone1"},"callStateNotifyUrl":"http://127.0.0.1:9/h"}')


def http(method, target, body=None, extra=""):
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n{extra}"
    if body is None:
        return (head + "\r\n").encode()
    b = body.encode()
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b


HTTP = {
    "startup": http("POST", f"/trtc/startup?{SIGNED}", STARTUP),
    "startup-unsigned": http("POST", "/trtc/startup", STARTUP),
    "startup-strroom": http("POST", f"/trtc/startup?{SIGNED}",
                            STARTUP.replace('"roomId":1234', '"strRoomId":"room-a"')),
    "startup-bad": http("POST", f"/trtc/startup?{SIGNED}", '{"phonenumber":12,"ttl":-1}'),
    "callstate": http("GET", f"/trtc/callstate?id=live&{SIGNED}"),
    "callstats": http("GET", f"/trtc/callstats?id=live&{SIGNED}"),
    "shutdown": http("POST", f"/trtc/shutdown?{SIGNED}", '{"id":"live"}'),
    "dtmf": http("POST", f"/trtc/dtmf?{SIGNED}", '{"id":"live","digits":"12*#"}'),
    "calls": http("GET", f"/trtc/calls?{SIGNED}"),
    "status": http("GET", f"/trtc/status?{SIGNED}"),
    "healthz": http("GET", "/healthz"),
    "metrics": http("GET", "/metrics"),
    "openapi": http("GET", "/openapi.json"),
    "pipelined": http("GET", "/healthz", extra="Connection: keep-alive\r\n") + http("GET", "/metrics"),
    "expect": http("POST", f"/trtc/shutdown?{SIGNED}", '{"id":"x"}', extra="Expect: 100-continue\r\n"),
    "chunked": b"POST /trtc/startup HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "http10": b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
}


def rtp(pt, seq, ts, ssrc, payload, marker=False, csrc=(), ext=None, pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext is not None else 0) | len(csrc)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack("!I", c) for c in csrc)
    if ext is not None:
        out += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


def rtcp_rr(ssrc, src):
    block = struct.pack("!IIIIII", src, 0x01000005, 1234, 40, 0x12345678, 65536)
    return struct.pack("!BBHI", 0x81, 201, 7, ssrc) + block


def rtcp_sr(ssrc):
    return struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 3900000000, 0x80000000, 160000, 50, 8000)


def sdes(ssrc, cname=b"phone@127.0.0.1"):
    item = bytes([1, len(cname)]) + cname + b"\0"
    item += b"\0" * (-len(item) % 4)
    return struct.pack("!BBHI", 0x81, 202, (4 + len(item)) // 4, ssrc) + item


RTP = {
    "pcmu": rtp(0, 1000, 8000, 0x11223344, b"\xff" * 160, marker=True),
    "pcma": rtp(8, 1001, 8160, 0x11223344, b"\xd5" * 160),
    "dtmf": rtp(101, 1002, 8320, 0x11223344, bytes([1, 0x8a, 0, 160])),
    "csrc-ext-pad": rtp(0, 7, 99, 5, b"\x01" * 20, csrc=(1, 2), ext=b"\x10\xff\0\0", pad=4),
    "rr-sdes": rtcp_rr(0xAABBCCDD, 0x12345678) + sdes(0xAABBCCDD),
    "sr-sdes": rtcp_sr(0x11223344) + sdes(0x11223344),
    "bye": struct.pack("!BBHI", 0x81, 203, 1, 0x11223344),
}


def jitter(records, mode=0):
    """mode byte, then 5-byte records: seq step, ts step/40, flags, len/5, pops."""
    return bytes([mode]) + b"".join(bytes([s & 0xff, t & 0xff, f, ln, p]) for s, t, f, ln, p in records)


JITTER = {
    "steady": jitter([(1, 4, 0, 32, 1)] * 40),
    "reorder": jitter([(2, 8, 0, 32, 1), (0xff, 0xfc, 0, 32, 1), (2, 8, 0, 32, 2)] * 12),
    "loss-burst": jitter([(1, 4, 0, 32, 1)] * 10 + [(9, 36, 0, 32, 4)] + [(1, 4, 0, 32, 1)] * 10),
    "ssrc-change": jitter([(1, 4, 0, 32, 1)] * 8 + [(1, 4, 0x80, 32, 1)] + [(1, 4, 0, 32, 1)] * 8),
    "adaptive-packet": jitter([(1, 4, 0x40, 20, 1), (1, 4, 0, 20, 3), (1, 4, 0, 20, 0)] * 10, mode=3),
    "ts-jump": jitter([(1, 4, 0, 32, 1)] * 5 + [(1, 0x7f, 0, 32, 1)] * 6),
}

CALL_LOG = {
    "two-calls": (
        "0a1b2c 1800000000.5 2026-12-03T06:00:00.000000+00:00 1 CALLING 0\n"
        "0a1b2c 1800000001.5 2026-12-03T06:00:01.000000+00:00 5 CONFIRMED 200 OK\n"
        "0a1b2c 1800000030.5 2026-12-03T06:00:30.000000+00:00 6 DISCONNCTD 200 shutdown requested\n"
        "ff00 1800000040 2026-12-03T06:00:40.000000+00:00 1 CALLING 0\n").encode(),
    "torn-and-damaged": (
        b"0a1b2c 1800000000.5 2026-12-03T06:00:00.000000+00:00 1 CALLING 0\n"
        b"0a1b\xff\xfe 1800000001 garbage\n"
        b"0a1b2c 1800000030.5 2026-12-03T06:00:30.000000+00:00 6 DISCONNCTD 486 Busy Here\n"
        b"beef 18000000"),
}


def config_seeds():
    seeds = {}
    for name in ("example", "rpi4", "x86_64"):
        with open(os.path.join(ROOT, "board", f"{name}.toml"), "rb") as f:
            seeds[name] = f.read()
    seeds["minimal"] = b'[sip]\ntrunk = "127.0.0.1:5060"\n'
    return seeds


def main():
    corpus = {
        "sip_message": {**{f"rfc4475-{k}": rfc(v) for k, v in TORTURE.items()}, **SIPP},
        "sdp": {k: v.replace("\n", "\r\n").encode() for k, v in SDPS.items()},
        "http_request": HTTP,
        "rtp_rtcp": RTP,
        "jitter_buffer": JITTER,
        "config": config_seeds(),
        "call_log": CALL_LOG,
    }
    total = 0
    for target, seeds in corpus.items():
        d = os.path.join(SEEDS, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
    assert total < 1_000_000, f"seed corpus is {total} bytes"
    print(f"fuzz seeds: {sum(len(s) for s in corpus.values())} files, {total} bytes in fuzz/seeds/")


if __name__ == "__main__":
    main()
