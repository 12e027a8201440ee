package services

import (
	"strings"
	"testing"
)

func TestSceneOf(t *testing.T) {
	for _, c := range []struct {
		event, key, scene string
		ok                bool
	}{
		{"subscribe", "qrscene_poster_1", "poster_1", true},
		{"subscribe", "", "", false}, // a plain follow (search, profile)
		{"subscribe", "qrscene_", "", false},
		{"SCAN", "poster_1", "poster_1", true},
		{"SCAN", "", "", false},
		{"CLICK", "poster_1", "", false},
	} {
		if scene, ok := SceneOf(c.event, c.key); scene != c.scene || ok != c.ok {
			t.Errorf("SceneOf(%q, %q) = %q %v", c.event, c.key, scene, ok)
		}
	}
}

func TestOAQRCodeInputValidate(t *testing.T) {
	good := OAQRCodeInput{Code: " metro ", Name: "地铁", Permanent: true, ReplyKind: ReplyText, ReplyText: "你好"}
	if err := good.Validate(); err != nil || good.Code != "metro" {
		t.Fatalf("good input: %v %+v", err, good)
	}
	for field, in := range map[string]OAQRCodeInput{
		"code":         {Code: "含中文", Name: "x", Permanent: true, ReplyKind: ReplyText, ReplyText: "x"},
		"name":         {Code: "a", Name: strings.Repeat("名", 31), Permanent: true, ReplyKind: ReplyText, ReplyText: "x"},
		"expire_days":  {Code: "a", Name: "x", ExpireDays: 31, ReplyKind: ReplyText, ReplyText: "x"},
		"reply_kind":   {Code: "a", Name: "x", Permanent: true},
		"reply_text":   {Code: "a", Name: "x", Permanent: true, ReplyKind: ReplyText},
		"news_title":   {Code: "a", Name: "x", Permanent: true, ReplyKind: ReplyNews, FormSlug: "f"},
		"news_pic_url": {Code: "a", Name: "x", Permanent: true, ReplyKind: ReplyNews, NewsTitle: "t", NewsPicURL: "javascript:x", FormSlug: "f"},
		"form":         {Code: "a", Name: "x", Permanent: true, ReplyKind: ReplyNews, NewsTitle: "t"},
	} {
		if err := in.Validate(); ErrorFields(err)[field] == "" {
			t.Errorf("%s: %v %v", field, err, ErrorFields(err))
		}
	}
	reserved := OAQRCodeInput{Code: "sidebar", Name: "x", Permanent: true, ReplyKind: ReplyText, ReplyText: "x"}
	if err := reserved.Validate(); ErrorFields(err)["code"] == "" {
		t.Errorf("a reserved channel name was accepted")
	}
}

func TestTemplateFieldNames(t *testing.T) {
	got := TemplateFieldNames("{{first.DATA}}\n名称：{{thing1.DATA}}\n时间：{{time2.DATA}}{{thing1.DATA}}\n{{remark.DATA}}")
	if strings.Join(got, ",") != "first,thing1,time2,remark" {
		t.Fatalf("fields = %v", got)
	}
}
